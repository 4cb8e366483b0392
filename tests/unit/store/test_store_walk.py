"""Tests for lamina.store.walk: descriptor graph walk over indexes and manifests."""

from __future__ import annotations

import json

import pytest
from store_graphs import FOREIGN_TYPE, LAYER_TYPE, graph_digests, make_index, make_manifest, put_json

from lamina.digest import Digest
from lamina.errors import DigestMismatch, InvalidManifest
from lamina.spec.mediatypes import (
    DOCKER_FOREIGN_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
)
from lamina.store.walk import (
    MAX_MANIFEST_SIZE,
    find_missing,
    is_foreign,
    sniff_descriptor,
    walk,
)


def unexpected(descriptor):
    raise AssertionError(f"reported missing: {descriptor}")


def digests(descriptors):
    return [d["digest"] for d in descriptors]


def test_walk_index_yields_every_descriptor_once_parents_first(store):
    m1 = make_manifest(store, "amd64")
    m2 = make_manifest(store, "arm64", layers=3)
    index = make_index(store, [m1, m2])
    seen = digests(walk(store, index))
    assert len(seen) == len(set(seen))
    assert set(seen) == {index["digest"]} | graph_digests(store, m1) | graph_digests(store, m2)
    assert seen[0] == index["digest"]
    assert seen.index(m1["digest"]) < seen.index(m2["digest"])
    body = json.loads(store.read_bytes(Digest.parse(m1["digest"])))
    assert seen.index(m1["digest"]) < seen.index(body["config"]["digest"]) < seen.index(
        body["layers"][0]["digest"])


def test_walk_docker_manifest_list(store):
    m = make_manifest(store, "docker", media_type=DOCKER_MANIFEST)
    lst = make_index(store, [m], media_type=DOCKER_MANIFEST_LIST)
    assert set(digests(walk(store, lst))) == {lst["digest"]} | graph_digests(store, m)


def test_shared_blobs_are_walked_once(store):
    m = make_manifest(store, "same")
    index = make_index(store, [m, m])
    seen = digests(walk(store, index))
    assert seen.count(m["digest"]) == 1
    assert len(seen) == 1 + 1 + 1 + 2


def test_leaf_root_yields_only_itself(store):
    info = store.put_bytes(b"plain layer")
    desc = {"mediaType": LAYER_TYPE, "digest": str(info.digest), "size": info.size}
    assert list(walk(store, desc)) == [desc]


def test_missing_layer_is_reported_and_yielded(store):
    ghost = {"mediaType": LAYER_TYPE, "digest": str(Digest.of_bytes(b"ghost")), "size": 5}
    m = make_manifest(store, "t", extra_layers=[ghost])
    reported: list[dict] = []
    seen = digests(walk(store, m, on_missing=reported.append))
    assert reported == [ghost]
    assert ghost["digest"] in seen
    assert find_missing(store, m) == [ghost]


def test_missing_manifest_is_reported_without_children(store):
    m = make_manifest(store, "gone")
    store.delete(Digest.parse(m["digest"]))
    index = make_index(store, [m])
    reported: list[dict] = []
    assert digests(walk(store, index, on_missing=reported.append)) == [index["digest"], m["digest"]]
    assert reported == [m]


def test_missing_is_logged_by_default(store, caplog):
    ghost = {"mediaType": LAYER_TYPE, "digest": str(Digest.of_bytes(b"ghost")), "size": 5}
    list(walk(store, ghost))
    assert ghost["digest"] in caplog.text


@pytest.mark.parametrize("media_type", [FOREIGN_TYPE, DOCKER_FOREIGN_LAYER, DOCKER_FOREIGN_LAYER + ".gzip"])
def test_foreign_layers_are_skipped_when_absent_and_kept_when_present(store, media_type):
    absent = {"mediaType": media_type, "digest": str(Digest.of_bytes(b"windows")), "size": 7,
              "urls": ["https://example.invalid/layer"]}
    info = store.put_bytes(b"present foreign")
    present = {"mediaType": media_type, "digest": str(info.digest), "size": info.size}
    m = make_manifest(store, "win", extra_layers=[absent, present])
    assert is_foreign(absent)
    seen = digests(walk(store, m, on_missing=unexpected))
    assert absent["digest"] not in seen
    assert present["digest"] in seen
    assert find_missing(store, m) == []


def test_null_manifests_in_index_is_accepted(store):
    index = put_json(store, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": None}, OCI_INDEX)
    assert digests(walk(store, index)) == [index["digest"]]


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"manifests": "x"}', b'{"manifests": [1]}'])
def test_malformed_index_raises_invalid_manifest(store, body):
    info = store.put_bytes(body)
    desc = {"mediaType": OCI_INDEX, "digest": str(info.digest), "size": info.size}
    with pytest.raises(InvalidManifest):
        list(walk(store, desc))


def test_oversized_manifest_is_refused_before_reading(store):
    info = store.put_bytes(b"{}")
    desc = {"mediaType": OCI_MANIFEST, "digest": str(info.digest), "size": MAX_MANIFEST_SIZE + 1}
    with pytest.raises(InvalidManifest):
        list(walk(store, desc))


def test_descriptor_without_digest_raises(store):
    with pytest.raises(InvalidManifest):
        list(walk(store, {"mediaType": OCI_MANIFEST, "size": 1}))


def test_corrupt_manifest_blob_raises_digest_mismatch(store):
    m = make_manifest(store, "c")
    path = store.path(Digest.parse(m["digest"]))
    raw = bytearray(path.read_bytes())
    raw[5] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(DigestMismatch):
        list(walk(store, m))


def test_sniff_descriptor(store):
    m = make_manifest(store, "s")
    index = make_index(store, [m])
    bare_manifest = put_json(store, {"schemaVersion": 2, "config": {}, "layers": []}, "x")
    bare_index = put_json(store, {"schemaVersion": 2, "manifests": []}, "x")
    leaf = store.put_bytes(b"\x1f\x8b not json")
    other_json = put_json(store, {"architecture": "amd64"}, "x")
    cases = {m["digest"]: OCI_MANIFEST, index["digest"]: OCI_INDEX,
             bare_manifest["digest"]: OCI_MANIFEST, bare_index["digest"]: OCI_INDEX,
             str(leaf.digest): "application/octet-stream", other_json["digest"]: "application/octet-stream"}
    for digest, media_type in cases.items():
        desc = sniff_descriptor(store, Digest.parse(digest))
        assert desc["mediaType"] == media_type, digest
        assert desc["size"] == store.stat(Digest.parse(digest))
