"""pull against httpx.MockTransport: media types, platforms, Range resume and restart, no partial blobs."""

from __future__ import annotations

import json

import httpx
import pytest

from lamina.digest import Digest
from lamina.errors import DigestMismatch, UnsupportedMediaType, UnsupportedPlatform
from lamina.reference import Reference
from lamina.registry.client import RegistryClient
from lamina.registry.pull import pull
from lamina.spec.descriptor import Platform
from lamina.store.blobs import BlobStore

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
LAYER = bytes(range(256)) * 400
CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'


def desc(media_type, data):
    return {"mediaType": media_type, "digest": str(Digest.of_bytes(data)), "size": len(data)}


MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": desc("application/vnd.oci.image.config.v1+json", CONFIG),
                       "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", LAYER)]}).encode()


class FakeRegistry:
    """Serves one image; ``drop_at`` cuts the first layer body there; ``ranges`` says if Range works."""

    def __init__(self, *, drop_at=None, ranges=True, manifest=MANIFEST, media_type=OCI_MANIFEST, layer=LAYER):
        self.drop_at, self.ranges = drop_at, ranges
        self.manifest, self.media_type, self.layer = manifest, media_type, layer
        self.layer_requests = []

    def __call__(self, request):
        path = request.url.path
        if path == "/v2/":
            return httpx.Response(200)
        if "/manifests/" in path:
            return httpx.Response(200, content=self.manifest, headers={"Content-Type": self.media_type})
        if path.endswith(str(Digest.of_bytes(CONFIG))):
            return httpx.Response(200, content=CONFIG)
        self.layer_requests.append(request.headers.get("Range"))
        start = 0
        rng = request.headers.get("Range")
        if rng and self.ranges:
            start = int(rng.removeprefix("bytes=").rstrip("-"))
        body = self.layer[start:]
        headers = {"Content-Length": str(len(body))}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(self.layer) - 1}/{len(self.layer)}"
        if self.drop_at is not None and len(self.layer_requests) == 1:
            cut = body[:self.drop_at]

            def broken():
                yield cut
                raise httpx.ReadError("connection reset")
            return httpx.Response(206 if start else 200, headers=headers, stream=BrokenStream(broken))
        return httpx.Response(206 if start else 200, headers=headers, content=body)


class BrokenStream(httpx.SyncByteStream):
    def __init__(self, gen):
        self._gen = gen

    def __iter__(self):
        yield from self._gen()


def run(registry, tmp_path, **kw):
    client = RegistryClient("127.0.0.1:5000", transport=httpx.MockTransport(registry), sleep=lambda s: None)
    store = BlobStore(tmp_path / "store")
    return pull(client, Reference.parse("127.0.0.1:5000/a/b:v1"), store, **kw), store


def test_pull_stores_config_layer_manifest(tmp_path):
    result, store = run(FakeRegistry(), tmp_path)
    assert store.read_bytes(Digest.of_bytes(LAYER)) == LAYER
    assert store.read_bytes(result.manifest_digest) == MANIFEST
    assert result.config_digest == Digest.of_bytes(CONFIG)


def test_dropped_layer_resumes_with_range(tmp_path):
    registry = FakeRegistry(drop_at=30_000)
    _, store = run(registry, tmp_path)
    assert registry.layer_requests == [None, "bytes=30000-"]
    store.verify(Digest.of_bytes(LAYER))


def test_dropped_layer_without_range_support_restarts(tmp_path):
    registry = FakeRegistry(drop_at=30_000, ranges=False)
    _, store = run(registry, tmp_path)
    assert registry.layer_requests == [None, "bytes=30000-", None]
    store.verify(Digest.of_bytes(LAYER))


def test_wrong_layer_bytes_leave_nothing(tmp_path):
    bad = bytearray(LAYER)
    bad[100] ^= 1
    with pytest.raises(DigestMismatch):
        run(FakeRegistry(layer=bytes(bad)), tmp_path)
    store = BlobStore(tmp_path / "store")
    assert set(store.list()) <= {Digest.of_bytes(CONFIG)}


def test_schema1_is_unsupported(tmp_path):
    schema1 = json.dumps({"schemaVersion": 1, "name": "a/b", "fsLayers": []}).encode()
    registry = FakeRegistry(manifest=schema1,
                            media_type="application/vnd.docker.distribution.manifest.v1+prettyjws")
    with pytest.raises(UnsupportedMediaType) as info:
        run(registry, tmp_path)
    assert "127.0.0.1:5000/a/b:v1" in str(info.value)


def test_no_manifest_for_platform(tmp_path):
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {**desc(OCI_MANIFEST, MANIFEST), "platform": {"os": "linux", "architecture": "riscv64"}}]}).encode()
    with pytest.raises(UnsupportedPlatform) as info:
        run(FakeRegistry(manifest=index, media_type=OCI_INDEX), tmp_path,
            platform=Platform(os="linux", architecture="amd64"))
    assert "linux/amd64" in str(info.value) and "linux/riscv64" in str(info.value)


def test_insecure_falls_back_to_http():
    seen = []

    def handler(request):
        seen.append(request.url.scheme)
        if request.url.scheme == "https":
            raise httpx.ConnectError("tls handshake failed")
        return httpx.Response(200)
    client = RegistryClient("reg.internal:5000", transport=httpx.MockTransport(handler), insecure=True,
                            sleep=lambda s: None)
    client.ping()
    assert client.base_url == "http://reg.internal:5000"
    assert seen[0] == "https" and seen[-1] == "http"
