"""Tests for lamina.store.ocilayout: export, read, import; interop with umoci and the OCI schemas."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from store_graphs import graph_digests, make_index, make_manifest

from lamina.digest import Digest
from lamina.errors import (
    BlobNotFound,
    DigestMismatch,
    InvalidArchive,
    InvalidReference,
    UnsupportedLayoutVersion,
)
from lamina.store.blobs import BlobStore
from lamina.store.ocilayout import LayoutEntry, copy_blobs, export_layout, read_layout
from lamina.store.refs import REF_NAME_ANNOTATION


@pytest.fixture
def exported(store, tmp_path):
    m1 = make_manifest(store, "one")
    m2 = make_manifest(store, "two")
    index = make_index(store, [m2])
    store.put_bytes(b"not exported")
    dest = tmp_path / "out"
    export_layout(store, dest, {"v1": m1, "multi": index})
    return dest, m1, m2, index


def test_export_writes_a_pure_oci_layout(store, exported):
    dest, m1, m2, index = exported
    assert sorted(p.name for p in dest.iterdir()) == ["blobs", "index.json", "oci-layout"]
    assert json.loads((dest / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    doc = json.loads((dest / "index.json").read_text())
    assert doc["schemaVersion"] == 2
    assert [d["annotations"][REF_NAME_ANNOTATION] for d in doc["manifests"]] == ["multi", "v1"]
    expected = graph_digests(store, m1) | graph_digests(store, m2) | {index["digest"]}
    assert {str(d) for d in BlobStore(dest, create=False).list()} == expected


def test_read_layout_round_trip(exported, tmp_path):
    dest, m1, _m2, index = exported
    reader = read_layout(dest)
    assert set(reader.refs()) == {"v1", "multi"}
    assert reader.refs()["v1"]["digest"] == m1["digest"]
    assert [e.name for e in reader.manifests()] == ["multi", "v1"]
    digest = Digest.parse(index["digest"])
    assert json.loads(reader.read_bytes(digest, index["size"]))["manifests"][0]["digest"]
    with reader.open(digest) as f:
        assert f.read()
    target = BlobStore(tmp_path / "imported")
    entry = next(e for e in reader.manifests() if e.name == "multi")
    assert reader.copy_into(target, entry) == 5
    assert reader.copy_into(target, entry) == 0  # idempotent


def test_export_refuses_missing_blobs_and_names_no_missing_blob(store, tmp_path):
    m = make_manifest(store, "x")
    body = json.loads(store.read_bytes(Digest.parse(m["digest"])))
    store.delete(Digest.parse(body["layers"][1]["digest"]))
    dest = tmp_path / "out"
    with pytest.raises(BlobNotFound) as err:
        export_layout(store, dest, {"x": m})
    assert err.value.digest == body["layers"][1]["digest"]
    assert read_layout(dest).manifests() == []


def test_export_refuses_bad_names(store, tmp_path):
    m = make_manifest(store, "x")
    with pytest.raises(InvalidReference):
        export_layout(store, tmp_path / "out", {"bad name": m})


def test_export_into_an_existing_layout_replaces_its_index(store, exported):
    dest, m1, _m2, _index = exported
    export_layout(store, dest, {"only": m1})
    assert list(read_layout(dest).refs()) == ["only"]


def test_import_verifies_blobs(exported, tmp_path):
    dest, m1, _m2, _index = exported
    body = json.loads((dest / "blobs" / "sha256" / m1["digest"].split(":")[1]).read_text())
    layer = dest / "blobs" / "sha256" / body["layers"][0]["digest"].split(":")[1]
    raw = bytearray(layer.read_bytes())
    raw[0] ^= 0xFF
    layer.write_bytes(bytes(raw))
    reader = read_layout(dest)
    target = BlobStore(tmp_path / "imported")
    with pytest.raises(DigestMismatch) as err:
        copy_blobs(reader.blobs, target, reader.refs()["v1"])
    assert err.value.digest == body["layers"][0]["digest"]
    assert not target.exists(Digest.parse(body["layers"][0]["digest"]))


@pytest.mark.parametrize("files, error", [
    ({}, InvalidArchive),
    ({"oci-layout": '{"imageLayoutVersion": 1.0.0}'}, InvalidArchive),
    ({"oci-layout": '{"imageLayoutVersion": "2.0.0"}', "index.json": "{}"}, UnsupportedLayoutVersion),
    ({"oci-layout": '{"imageLayoutVersion": "1.0.0"}'}, InvalidArchive),
    ({"oci-layout": '{"imageLayoutVersion": "1.0.0"}', "index.json": "[]"}, InvalidArchive),
    ({"oci-layout": '{"imageLayoutVersion": "1.0.0"}', "index.json": '{"manifests": {}}'}, InvalidArchive),
    ({"oci-layout": '{"imageLayoutVersion": "1.0.0"}', "index.json": '{"manifests": [1]}'}, InvalidArchive),
    ({"oci-layout": '{"imageLayoutVersion": "1.0.0"}',
      "index.json": '{"manifests": [{"mediaType": "x", "digest": "sha256:zz", "size": 1}]}'}, InvalidArchive),
])
def test_read_layout_rejects_bad_layouts(tmp_path, files, error):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(error):
        read_layout(tmp_path)


def test_read_layout_accepts_null_manifests_and_reads_nothing_else(tmp_path):
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (tmp_path / "index.json").write_text('{"schemaVersion": 2, "manifests": null}')
    assert read_layout(tmp_path).manifests() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.json", "oci-layout"]


def test_read_layout_of_the_spec_example(conformance, tmp_path):
    examples = conformance / "oci-image-spec" / "examples" / "image-layout"
    shutil.copy(examples / "01-oci-layout.json", tmp_path / "oci-layout")
    shutil.copy(examples / "02-image-index.json", tmp_path / "index.json")
    reader = read_layout(tmp_path)
    assert [e.name for e in reader.manifests()] == ["stable-release", "v1.0", None]
    assert reader.refs()["v1.0"]["platform"] == {"architecture": "ppc64le", "os": "linux"}
    assert isinstance(reader.manifests()[2], LayoutEntry)


@pytest.mark.parametrize("vector", ["01-invalid.json", "02-valid.json"])
def test_imagelayout_validation_vectors(conformance, tmp_path, vector):
    src = conformance / "oci-image-spec" / "validation-vectors" / "imagelayout" / vector
    shutil.copy(src, tmp_path / "oci-layout")
    (tmp_path / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    if vector.endswith("invalid.json"):
        with pytest.raises(InvalidArchive):
            read_layout(tmp_path)
    else:
        assert read_layout(tmp_path).manifests() == []


def test_exported_index_validates_against_the_oci_schema(conformance, exported):
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    from referencing.jsonschema import DRAFT4

    schemas = conformance / "oci-image-spec" / "schema"
    base = "https://opencontainers.org/schema/image/"
    resources = [(base + p.name, referencing.Resource.from_contents(
        json.loads(p.read_text()), default_specification=DRAFT4)) for p in schemas.glob("*.json")]
    registry = referencing.Registry().with_resources(resources)
    schema = json.loads((schemas / "image-index-schema.json").read_text())
    validator = jsonschema.Draft4Validator(schema, registry=registry)
    dest = exported[0]
    validator.validate(json.loads((dest / "index.json").read_text()))
    layout_schema = json.loads((schemas / "image-layout-schema.json").read_text())
    jsonschema.Draft4Validator(layout_schema, registry=registry).validate(
        json.loads((dest / "oci-layout").read_text()))


needs_umoci = pytest.mark.skipif(shutil.which("umoci") is None, reason="needs umoci")


@needs_umoci
def test_umoci_reads_an_exported_layout(exported):
    dest = exported[0]
    res = subprocess.run(["umoci", "ls", "--layout", str(dest)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.split()) == ["multi", "v1"]
    stat = subprocess.run(["umoci", "stat", "--image", f"{dest}:v1", "--json"],
                          capture_output=True, text=True, check=False)
    assert stat.returncode == 0, stat.stderr


@needs_umoci
def test_read_a_layout_made_by_umoci(tmp_path):
    layout = tmp_path / "umoci"
    for args in (["init", "--layout", str(layout)], ["new", "--image", f"{layout}:fresh"]):
        res = subprocess.run(["umoci", *args], capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stderr
    reader = read_layout(layout)
    assert list(reader.refs()) == ["fresh"]
    target = BlobStore(tmp_path / "mine")
    assert reader.copy_into(target, reader.manifests()[0]) >= 2
    target.verify(Digest.parse(reader.refs()["fresh"]["digest"]))
