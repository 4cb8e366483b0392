"""Interop with skopeo: what lamina pushes skopeo inspects and copies; what skopeo pushes lamina pulls."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from lamina.registry.pull import pull_target
from lamina.registry.push import push_target
from lamina.store.blobs import BlobStore
from lamina.testing.registry import client_for, environment_ok, make_image

pytest_plugins = ["registry_fixtures"]
needs_registry = pytest.mark.skipif(environment_ok() is not None, reason=str(environment_ok()))
pytestmark = [needs_registry, pytest.mark.network,
              pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo (not installed)")]


def skopeo(*args: str) -> str:
    res = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_skopeo_reads_what_lamina_pushed(registry_server, blob_store, repo, tmp_path):
    image = make_image(blob_store)
    with client_for(registry_server.host) as client:
        push_target(client, repo, "v1", blob_store, image.manifest, image.media_type)
    ref = f"docker://{registry_server.host}/{repo}:v1"
    info = json.loads(skopeo("inspect", "--tls-verify=false", ref))
    assert info["Digest"] == str(image.digest)
    assert info["Layers"] == [str(d) for d in image.layers]
    raw = skopeo("inspect", "--raw", "--tls-verify=false", ref)
    assert raw.encode() == image.manifest
    skopeo("copy", "--src-tls-verify=false", ref, f"oci:{tmp_path / 'layout'}:v1")
    for digest in (image.config, *image.layers):
        assert (tmp_path / "layout" / "blobs" / "sha256" / digest.hex).read_bytes() == \
            blob_store.read_bytes(digest)


def test_lamina_pulls_what_skopeo_pushed(registry_server, tmp_path, repo):
    layout = BlobStore(tmp_path / "layout")
    image = make_image(layout)
    layout.put_bytes(image.manifest)
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": image.media_type, "digest": str(image.digest), "size": len(image.manifest),
        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}
    (tmp_path / "layout" / "index.json").write_text(json.dumps(index))
    skopeo("copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:v1",
           f"docker://{registry_server.host}/{repo}:v1")
    fresh = BlobStore(tmp_path / "fresh")
    with client_for(registry_server.host) as client:
        pulled = pull_target(client, repo, "v1", fresh)
    assert pulled.config_digest == image.config
    assert [d.digest for d in pulled.layers] == list(image.layers)
    for digest in (image.config, *image.layers):
        fresh.verify(digest)
