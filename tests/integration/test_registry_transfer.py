"""Push and pull against a real docker-registry on loopback: round trip, already-exists, chunked upload,
cross-repo mount, index by platform, all tags, unknown tag."""

from __future__ import annotations

import json

import pytest

from lamina.errors import ManifestUnknown, UnsupportedPlatform
from lamina.reference import Reference
from lamina.registry.pull import pull, pull_all_tags, pull_target
from lamina.registry.push import PushOptions, push, push_target
from lamina.store.blobs import BlobStore
from lamina.testing.registry import client_for, environment_ok, make_image

pytest_plugins = ["registry_fixtures"]
needs_registry = pytest.mark.skipif(environment_ok() is not None, reason=str(environment_ok()))
pytestmark = [needs_registry, pytest.mark.network]


def test_push_then_pull_into_fresh_store(registry_server, blob_store, repo, tmp_path):
    image = make_image(blob_store)
    pushed_events = []
    with client_for(registry_server.host) as client:
        result = push(client, Reference.parse(f"{registry_server.host}/{repo}:v1"), blob_store,
                      image.manifest, image.media_type, progress=pushed_events.append)
    assert result.digest == image.digest
    assert result.size == len(image.manifest)
    assert result.status_line() == f"v1: digest: {image.digest} size: {len(image.manifest)}"
    assert {e.action for e in pushed_events} >= {"Preparing", "Pushed"}

    fresh = BlobStore(tmp_path / "fresh")
    pulled_events = []
    with client_for(registry_server.host) as client:
        pulled = pull(client, Reference.parse(f"{registry_server.host}/{repo}:v1"), fresh,
                      progress=pulled_events.append)
    assert pulled.manifest_digest == image.digest
    assert pulled.manifest_bytes == image.manifest
    assert pulled.config_digest == image.config
    assert [d.digest for d in pulled.layers] == list(image.layers)
    assert pulled.index_digest is None
    for digest in (image.config, *image.layers):
        assert fresh.read_bytes(digest) == blob_store.read_bytes(digest)
    assert fresh.read_bytes(image.digest) == image.manifest
    actions = [e.action for e in pulled_events if e.id == image.layers[0].short]
    assert actions[0] == "Waiting" and actions[-1] == "Pull complete"
    assert "Download complete" in actions


def test_second_push_and_pull_say_already_exists(registry_server, blob_store, repo, tmp_path):
    image = make_image(blob_store)
    with client_for(registry_server.host) as client:
        push_target(client, repo, "v1", blob_store, image.manifest, image.media_type)
        again = []
        push_target(client, repo, "v2", blob_store, image.manifest, image.media_type, progress=again.append)
        assert sorted(e.id for e in again if e.action == "Layer already exists") == sorted(
            d.short for d in (image.config, *image.layers))
        assert not [e for e in again if e.action == "Pushing"]
        fresh = BlobStore(tmp_path / "fresh")
        pull_target(client, repo, "v1", fresh)
        second = []
        pull_target(client, repo, "v2", fresh, progress=second.append)
    already = sorted(e.id for e in second if e.action == "Already exists")
    assert already == sorted(d.short for d in image.layers)
    assert not [e for e in second if e.action == "Downloading"]


def test_chunked_upload_and_pull_by_digest(registry_server, blob_store, repo, tmp_path):
    image = make_image(blob_store, layers=2, layer_bytes=300_000)
    options = PushOptions(monolithic_max=1000, chunk_size=64 * 1024)
    with client_for(registry_server.host) as client:
        result = push_target(client, repo, "chunked", blob_store, image.manifest, image.media_type,
                             options=options)
        fresh = BlobStore(tmp_path / "fresh")
        pulled = pull_target(client, repo, str(result.digest), fresh)
    assert pulled.manifest_digest == image.digest
    for digest in image.layers:
        assert fresh.read_bytes(digest) == blob_store.read_bytes(digest)


def test_cross_repo_mount(registry_server, blob_store, repo):
    image = make_image(blob_store)
    seen = []
    with client_for(registry_server.host) as client:
        push_target(client, repo, "v1", blob_store, image.manifest, image.media_type)
        other = repo + "-copy"
        push_target(client, other, "v1", blob_store, image.manifest, image.media_type,
                    options=PushOptions(mount_from=(repo,)), progress=seen.append)
        assert client.head_blob(other, image.layers[0]) is not None
    mounted = [e for e in seen if e.action == "Mounted from"]
    assert {e.id for e in mounted} == {d.short for d in (image.config, *image.layers)}
    assert all(e.detail == repo for e in mounted)


def _push_index(client, repo, store, images):
    from lamina.spec.mediatypes import OCI_INDEX
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": img.media_type, "digest": str(img.digest), "size": len(img.manifest),
         "platform": {"os": "linux", "architecture": arch}} for arch, img in images]}).encode()
    for _, img in images:
        store.put_bytes(img.manifest)
    push_target(client, repo, "multi", store, index, OCI_INDEX)
    return index


def test_index_resolves_this_platform(registry_server, blob_store, repo, tmp_path):
    from lamina.spec.descriptor import Platform
    amd, arm = make_image(blob_store), make_image(blob_store)
    with client_for(registry_server.host) as client:
        index = _push_index(client, repo, blob_store, [("amd64", amd), ("arm64", arm)])
        fresh = BlobStore(tmp_path / "fresh")
        pulled = pull_target(client, repo, "multi", fresh,
                             platform=Platform(os="linux", architecture="arm64"))
        assert pulled.manifest_digest == arm.digest
        assert fresh.read_bytes(pulled.index_digest) == index
        assert not fresh.exists(amd.layers[0])
        with pytest.raises(UnsupportedPlatform) as info:
            pull_target(client, repo, "multi", fresh, platform=Platform(os="linux", architecture="s390x"))
    assert "s390x" in str(info.value)


def test_pull_all_tags(registry_server, blob_store, repo, tmp_path):
    images = {tag: make_image(blob_store) for tag in ("a", "b", "c")}
    with client_for(registry_server.host) as client:
        for tag, img in images.items():
            push_target(client, repo, tag, blob_store, img.manifest, img.media_type)
        assert sorted(client.list_tags(repo, page_size=1)) == ["a", "b", "c"]
        results = pull_all_tags(client, Reference.parse(f"{registry_server.host}/{repo}"),
                                BlobStore(tmp_path / "fresh"))
    assert {r.manifest_digest for r in results} == {i.digest for i in images.values()}


def test_unknown_tag_names_the_reference(registry_server, blob_store, repo, tmp_path):
    image = make_image(blob_store)
    fresh = BlobStore(tmp_path / "fresh")
    with client_for(registry_server.host) as client:
        push_target(client, repo, "v1", blob_store, image.manifest, image.media_type)
        with pytest.raises(ManifestUnknown) as info:
            pull_target(client, repo, "nope", fresh)
        assert info.value.reference == f"{registry_server.host}/{repo}:nope"
        with pytest.raises(ManifestUnknown) as info:
            pull_target(client, repo + "-missing", "v1", fresh)
    assert f"{repo}-missing:v1" in str(info.value)
    assert list(fresh.list()) == []
