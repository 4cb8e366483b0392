"""Fixtures for the store tests: a fresh BlobStore in a temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.store.blobs import BlobStore


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "oci")
