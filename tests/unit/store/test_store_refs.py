"""Tests for lamina.store.refs: names in index.json, atomic rewrite, preservation of other fields."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from lamina.errors import InvalidArgument, InvalidDigest, InvalidManifest, InvalidReference, ManifestUnknown
from lamina.store.refs import REF_NAME_ANNOTATION, RefStore

DESC = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + "a" * 64, "size": 123}
OTHER = {**DESC, "digest": "sha256:" + "b" * 64}


@pytest.fixture
def refs(store):
    return RefStore(store.root)


def test_set_get_list_delete(refs):
    refs.set("v1", DESC)
    refs.set("docker.io/library/alpine:3.19", OTHER)
    got = refs.get("v1")
    assert got["digest"] == DESC["digest"]
    assert got["annotations"] == {REF_NAME_ANNOTATION: "v1"}
    assert set(refs.list()) == {"v1", "docker.io/library/alpine:3.19"}
    assert refs.delete("v1") is True
    assert refs.delete("v1") is False
    with pytest.raises(ManifestUnknown):
        refs.get("v1")
    assert list(refs.list()) == ["docker.io/library/alpine:3.19"]


def test_set_replaces_the_previous_target(refs):
    refs.set("latest", DESC)
    refs.set("latest", OTHER)
    assert refs.get("latest")["digest"] == OTHER["digest"]
    index = json.loads(refs.index_path.read_text())
    assert len(index["manifests"]) == 1


def test_set_keeps_caller_annotations_and_does_not_mutate_input(refs):
    desc = {**DESC, "annotations": {"org.example": "x"}}
    refs.set("v1", desc)
    assert desc["annotations"] == {"org.example": "x"}
    assert refs.get("v1")["annotations"] == {"org.example": "x", REF_NAME_ANNOTATION: "v1"}


def test_unnamed_entries_and_index_fields_are_preserved(refs):
    refs.index_path.write_text(json.dumps({
        "schemaVersion": 2, "annotations": {"keep": "me"},
        "manifests": [{**DESC, "platform": {"os": "linux", "architecture": "arm64"}}]}))
    refs.set("v1", OTHER)
    refs.delete("v1")
    index = json.loads(refs.index_path.read_text())
    assert index["annotations"] == {"keep": "me"}
    assert index["manifests"] == [{**DESC, "platform": {"os": "linux", "architecture": "arm64"}}]
    assert refs.list() == {}


def test_missing_index_is_empty_and_null_manifests_accepted(tmp_path):
    refs = RefStore(tmp_path / "layout")
    assert refs.list() == {}
    refs.set("a", DESC)
    assert refs.get("a")["size"] == 123
    refs.index_path.write_text('{"schemaVersion":2,"manifests":null}')
    assert refs.list() == {}


@pytest.mark.parametrize("name", ["", "a b", "/abs", "trailing/", "a//b", "x..", "ünï"])
def test_invalid_ref_names_are_refused(refs, name):
    with pytest.raises(InvalidReference):
        refs.set(name, DESC)


@pytest.mark.parametrize("bad, error", [
    ({"digest": DESC["digest"], "size": 1}, InvalidArgument),
    ({**DESC, "digest": "sha256:xyz"}, InvalidDigest),
    ({**DESC, "size": -1}, InvalidArgument),
    ({**DESC, "size": True}, InvalidArgument),
    ("not a dict", InvalidArgument),
])
def test_invalid_descriptors_are_refused(refs, bad, error):
    with pytest.raises(error):
        refs.set("v1", bad)


def test_corrupt_index_raises_invalid_manifest(refs):
    refs.index_path.write_text("{not json")
    with pytest.raises(InvalidManifest):
        refs.list()
    refs.index_path.write_text('{"manifests": [1, 2]}')
    with pytest.raises(InvalidManifest):
        refs.list()


def _set_names(root: str, prefix: str) -> None:
    refs = RefStore(root)
    for i in range(20):
        refs.set(f"{prefix}{i}", DESC)


def test_concurrent_sets_lose_nothing(store):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_set_names, args=(str(store.root), p)) for p in ("a", "b", "c")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert len(RefStore(store.root).list()) == 60
