"""Pull with a layer sink (download and consume at once) through the fault proxy: the sink sees every
blob byte exactly once, in order, across drops, Range resumes, ignored Ranges and truncated bodies;
wrong bytes fail the pull with DigestMismatch and leave no blob visible."""

from __future__ import annotations

import hashlib
import threading

import pytest

from lamina.digest import Digest
from lamina.errors import DigestMismatch
from lamina.registry.pull import pull_target
from lamina.registry.push import push_target
from lamina.store.blobs import BlobStore
from lamina.testing.registry import Fault, client_for, environment_ok, make_image

pytest_plugins = ["registry_fixtures"]
needs_registry = pytest.mark.skipif(environment_ok() is not None, reason=str(environment_ok()))
pytestmark = [needs_registry, pytest.mark.network]


@pytest.fixture
def pushed(registry_server, blob_store, repo):
    image = make_image(blob_store, layers=2, layer_bytes=300_000)
    with client_for(registry_server.host) as client:
        push_target(client, repo, "v1", blob_store, image.manifest, image.media_type)
    return image


class HashingSink:
    """A sink factory recording what each layer stream delivered (sha256 of the bytes read)."""

    def __init__(self) -> None:
        self.seen: dict[Digest, Digest] = {}
        self.configs: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, config: bytes, descs):
        self.configs.append(config)

        def sink(desc, feed) -> None:
            h = hashlib.sha256()
            while chunk := feed.read(7_000):
                h.update(chunk)
            with self._lock:
                self.seen[desc.digest] = Digest("sha256", h.hexdigest())
        return sink


def _layer_path(image, i=0):
    return f"/blobs/{image.layers[i]}"


@pytest.mark.parametrize("faults", [
    [("drop", 0, 50_000)],
    [("drop", 0, 50_000), ("ignore_range", 0, 0)],
    [("truncate", 1, 10_000)],
    [],
], ids=["drop-range", "drop-ignored-range", "truncate", "clean"])
def test_sink_sees_each_byte_once(fault_proxy, pushed, repo, tmp_path, faults):
    for kind, layer, after in faults:
        fault_proxy.add(Fault(kind, _layer_path(pushed, layer), after_bytes=after))
    fresh = BlobStore(tmp_path / "fresh")
    sink = HashingSink()
    with client_for(fault_proxy.host, backoff=0.001) as client:
        result = pull_target(client, repo, "v1", fresh, layer_sink=sink)
    assert result.manifest_digest == pushed.digest
    assert len(sink.configs) == 1 and Digest.of_bytes(sink.configs[0]) == result.config_digest
    assert sink.seen == {d: d for d in pushed.layers}
    for digest in pushed.layers:
        fresh.verify(digest)


def test_wrong_bytes_fail_the_streamed_pull(fault_proxy, pushed, repo, tmp_path):
    fault_proxy.add(Fault("flip", _layer_path(pushed, 1), after_bytes=1234))
    fresh = BlobStore(tmp_path / "fresh")
    with client_for(fault_proxy.host) as client, pytest.raises(DigestMismatch):
        pull_target(client, repo, "v1", fresh, max_concurrent=1, layer_sink=HashingSink())
    assert not fresh.exists(pushed.layers[1])
    assert not fresh.exists(pushed.digest)
    staging = fresh.root / "staging"
    assert not staging.exists() or list(staging.iterdir()) == []


def test_failing_sink_aborts_the_blob(pushed, registry_server, repo, tmp_path):
    def factory(config, descs):
        def sink(desc, feed) -> None:
            feed.read(100)
            raise RuntimeError("extract failed")
        return sink

    fresh = BlobStore(tmp_path / "fresh")
    with client_for(registry_server.host) as client, pytest.raises(RuntimeError, match="extract failed"):
        pull_target(client, repo, "v1", fresh, layer_sink=factory)
    assert not any(fresh.exists(d) for d in pushed.layers)
    assert not fresh.exists(pushed.digest)
