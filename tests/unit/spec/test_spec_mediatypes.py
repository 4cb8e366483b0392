"""Media-type constants and predicates."""

from __future__ import annotations

import pytest

from lamina.spec import mediatypes as mt


@pytest.mark.parametrize(("media_type", "compression"), [
    (mt.OCI_LAYER, "none"),
    (mt.OCI_LAYER_GZIP, "gzip"),
    (mt.OCI_LAYER_ZSTD, "zstd"),
    (mt.OCI_LAYER_NONDISTRIBUTABLE_GZIP, "gzip"),
    (mt.OCI_LAYER_NONDISTRIBUTABLE_ZSTD, "zstd"),
    (mt.DOCKER_LAYER, "none"),
    (mt.DOCKER_LAYER_GZIP, "gzip"),
    (mt.DOCKER_FOREIGN_LAYER_GZIP, "gzip"),
    (mt.DOCKER_LAYER_ZSTD, "zstd"),
    (mt.OCI_CONFIG, "none"),
    ("application/octet-stream", "none"),
])
def test_compression_of(media_type, compression):
    assert mt.compression_of(media_type) == compression


def test_layer_predicates():
    for layer in mt.LAYER_TYPES:
        assert mt.is_layer(layer)
        assert not (mt.is_manifest(layer) or mt.is_index(layer) or mt.is_config(layer))
    assert not mt.is_layer(mt.OCI_CONFIG)
    assert mt.is_nondistributable(mt.DOCKER_FOREIGN_LAYER)
    assert mt.is_nondistributable(mt.OCI_LAYER_NONDISTRIBUTABLE)
    assert not mt.is_nondistributable(mt.OCI_LAYER_GZIP)


@pytest.mark.parametrize(("media_type", "kind"), [
    (mt.OCI_MANIFEST, "manifest"), (mt.DOCKER_MANIFEST, "manifest"),
    (mt.OCI_INDEX, "index"), (mt.DOCKER_MANIFEST_LIST, "index"),
    (mt.OCI_CONFIG, "config"), (mt.DOCKER_CONFIG, "config"),
    (mt.DOCKER_SCHEMA1_MANIFEST, "schema1"), (mt.DOCKER_SCHEMA1_SIGNED, "schema1"),
])
def test_document_predicates(media_type, kind):
    assert mt.is_manifest(media_type) is (kind == "manifest")
    assert mt.is_index(media_type) is (kind == "index")
    assert mt.is_config(media_type) is (kind == "config")
    assert mt.is_schema1(media_type) is (kind == "schema1")


def test_docker_and_accept():
    assert mt.is_docker(mt.DOCKER_MANIFEST) and not mt.is_docker(mt.OCI_MANIFEST)
    assert set(mt.MANIFEST_ACCEPT) == set(mt.MANIFEST_TYPES | mt.INDEX_TYPES)


@pytest.mark.parametrize(("compression", "docker", "expected"), [
    ("gzip", False, mt.OCI_LAYER_GZIP), ("zstd", False, mt.OCI_LAYER_ZSTD), ("none", False, mt.OCI_LAYER),
    ("gzip", True, mt.DOCKER_LAYER_GZIP), ("none", True, mt.DOCKER_LAYER),
])
def test_layer_type(compression, docker, expected):
    assert mt.layer_type(compression, docker=docker) == expected
    assert mt.compression_of(expected) == compression


@pytest.mark.parametrize(("media_type", "valid"), [
    ("application/json", True),
    ("application/vnd.oci.image.manifest.v1+json", True),
    ("a/b", True),
    ("x" * 127 + "/" + "y" * 127, True),
    ("x" * 128 + "/y", False),
    ("application", False),
    ("", False),
    (".foo/bar", False),
    ("foo/.bar", False),
    ("application/json; charset=utf-8", False),
    ("application/json\n", False),
])
def test_is_valid_media_type(media_type, valid):
    assert mt.is_valid(media_type) is valid
