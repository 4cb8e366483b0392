"""Fault injection through a loopback proxy in front of the real registry: drops resume with Range,
500/429 are retried, wrong bytes fail with DigestMismatch and leave nothing visible."""

from __future__ import annotations

import pytest

from lamina.errors import DigestMismatch, RegistryUnavailable
from lamina.registry.pull import pull_target
from lamina.registry.push import push_target
from lamina.store.blobs import BlobStore
from lamina.testing.registry import Fault, RecordingSleep, client_for, environment_ok, make_image

pytest_plugins = ["registry_fixtures"]
needs_registry = pytest.mark.skipif(environment_ok() is not None, reason=str(environment_ok()))
pytestmark = [needs_registry, pytest.mark.network]


@pytest.fixture
def pushed(registry_server, blob_store, repo):
    image = make_image(blob_store, layers=2, layer_bytes=200_000)
    with client_for(registry_server.host) as client:
        push_target(client, repo, "v1", blob_store, image.manifest, image.media_type)
    return image


def _layer_path(image, i=0):
    return f"/blobs/{image.layers[i]}"


def _assert_nothing_visible(store: BlobStore):
    assert list(store.list()) == []
    staging = store.root / "staging"
    assert not staging.exists() or list(staging.iterdir()) == []


def test_dropped_connection_resumes_with_range(fault_proxy, pushed, repo, tmp_path):
    fault_proxy.add(Fault("drop", _layer_path(pushed), after_bytes=50_000))
    fresh = BlobStore(tmp_path / "fresh")
    with client_for(fault_proxy.host, backoff=0.001) as client:
        result = pull_target(client, repo, "v1", fresh)
    assert result.manifest_digest == pushed.digest
    assert fresh.exists(pushed.layers[0])
    ranges = [r.range for r in fault_proxy.requests if _layer_path(pushed) in r.path]
    assert ranges[0] is None
    assert ranges[1] is not None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"


def test_drop_without_range_support_restarts(fault_proxy, pushed, repo, tmp_path):
    fault_proxy.add(Fault("drop", _layer_path(pushed), after_bytes=50_000))
    fault_proxy.add(Fault("ignore_range", _layer_path(pushed)))
    fresh = BlobStore(tmp_path / "fresh")
    with client_for(fault_proxy.host, backoff=0.001) as client:
        pull_target(client, repo, "v1", fresh)
    fresh.verify(pushed.layers[0])


def test_truncated_body_is_resumed_and_verified(fault_proxy, pushed, repo, tmp_path):
    fault_proxy.add(Fault("truncate", _layer_path(pushed, 1), after_bytes=10_000))
    fresh = BlobStore(tmp_path / "fresh")
    with client_for(fault_proxy.host, backoff=0.001) as client:
        pull_target(client, repo, "v1", fresh)
    fresh.verify(pushed.layers[1])


def test_500_and_429_are_retried(fault_proxy, pushed, repo, tmp_path):
    fault_proxy.add(Fault("status", "/manifests/v1", status=500, times=2))
    fault_proxy.add(Fault("status", _layer_path(pushed), status=429, retry_after="1"))
    sleeps = RecordingSleep()
    fresh = BlobStore(tmp_path / "fresh")
    with client_for(fault_proxy.host, sleep=sleeps, retry_after_cap=30.0) as client:
        pull_target(client, repo, "v1", fresh)
    assert 1.0 in sleeps  # Retry-After honoured
    assert len(sleeps) == 3
    assert fresh.exists(pushed.layers[0])


def test_persistent_500_gives_up(fault_proxy, pushed, repo, tmp_path):
    fault_proxy.add(Fault("status", "/manifests/v1", status=503, times=100))
    fresh = BlobStore(tmp_path / "fresh")
    with client_for(fault_proxy.host, max_retries=2) as client, pytest.raises(RegistryUnavailable) as info:
        pull_target(client, repo, "v1", fresh)
    assert "/manifests/v1" not in str(info.value) and repo in str(info.value)
    _assert_nothing_visible(fresh)


def test_wrong_bytes_fail_and_leave_nothing(fault_proxy, pushed, repo, tmp_path):
    fault_proxy.add(Fault("flip", _layer_path(pushed, 1), after_bytes=1234))
    fresh = BlobStore(tmp_path / "fresh")
    with client_for(fault_proxy.host) as client, pytest.raises(DigestMismatch) as info:
        pull_target(client, repo, "v1", fresh, max_concurrent=1)
    assert info.value.digest == str(pushed.layers[1])
    assert not fresh.exists(pushed.layers[1])
    assert not fresh.exists(pushed.digest)  # no manifest: no image half-stored
    staging = fresh.root / "staging"
    assert not staging.exists() or list(staging.iterdir()) == []


def test_wrong_manifest_bytes_by_digest(fault_proxy, pushed, repo, tmp_path):
    fault_proxy.add(Fault("flip", f"/manifests/{pushed.digest}", after_bytes=3))
    fresh = BlobStore(tmp_path / "fresh")
    with client_for(fault_proxy.host) as client, pytest.raises(DigestMismatch):
        pull_target(client, repo, str(pushed.digest), fresh)
    _assert_nothing_visible(fresh)


def test_upload_failures_restart_the_upload(fault_proxy, blob_store, repo, tmp_path):
    image = make_image(blob_store, layers=1, layer_bytes=100_000)
    fault_proxy.add(Fault("status", "/blobs/uploads/", method="PUT", status=500))
    fault_proxy.add(Fault("status", "/blobs/uploads/", method="POST", status=502))
    with client_for(fault_proxy.host, backoff=0.001) as client:
        result = push_target(client, repo, "v1", blob_store, image.manifest, image.media_type)
        assert result.digest == image.digest
        fresh = BlobStore(tmp_path / "fresh")
        pull_target(client, repo, "v1", fresh)
    fresh.verify(image.layers[0])
