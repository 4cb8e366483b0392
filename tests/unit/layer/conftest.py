"""Helpers for the layer tests: apply tar bytes, diff two trees into a tar, read tar members."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from lamina.layer.apply import ApplyResult, apply_layer
from lamina.layer.changes import changes_between
from lamina.layer.tarwriter import write_changes
from lamina.layer.whiteout import OCIWhiteouts, WhiteoutFormat


def apply_bytes(data: bytes, dest: Path, whiteouts: WhiteoutFormat | None = None) -> ApplyResult:
    dest.mkdir(parents=True, exist_ok=True)
    return apply_layer(io.BytesIO(data), dest, whiteouts=whiteouts or OCIWhiteouts())


def diff_tar(old: Path | None, new: Path, *, epoch: int | None = None) -> bytes:
    buf = io.BytesIO()
    write_changes(new, changes_between(old, new), buf, epoch=epoch)
    return buf.getvalue()


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        return tf.getmembers()


@pytest.fixture
def apply_tar() -> Callable[..., ApplyResult]:
    return apply_bytes


@pytest.fixture
def diff() -> Callable[..., bytes]:
    return diff_tar


@pytest.fixture
def tar_members() -> Callable[[bytes], list[tarfile.TarInfo]]:
    return members
