"""Shared fixtures for the registry integration tests: real docker-registry processes, a fault proxy,
a fresh BlobStore and a unique repository name.

Load them with ``pytest_plugins = ["registry_fixtures"]`` in a test module; helpers such as
``make_image`` and ``client_for`` live in ``lamina.testing.registry``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.store.blobs import BlobStore
from lamina.testing import registry as testreg

REASON = testreg.environment_ok()


def _start(factory: pytest.TempPathFactory, auth: str) -> Iterator[testreg.RegistryProcess]:
    if REASON is not None:
        pytest.skip(REASON)
    reg = testreg.start_registry(factory.mktemp(f"registry-{auth}"), auth=auth)
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[testreg.RegistryProcess]:
    yield from _start(tmp_path_factory, "none")


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[testreg.RegistryProcess]:
    yield from _start(tmp_path_factory, "basic")


@pytest.fixture(scope="session")
def bearer_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[testreg.RegistryProcess]:
    yield from _start(tmp_path_factory, "bearer")


@pytest.fixture
def fault_proxy(registry_server: testreg.RegistryProcess) -> Iterator[testreg.FaultProxy]:
    proxy = testreg.FaultProxy(registry_server.host)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def blob_store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "store")


@pytest.fixture
def repo() -> str:
    """A repository name no other test uses."""
    return f"lamina-test/r{secrets.token_hex(4)}"
