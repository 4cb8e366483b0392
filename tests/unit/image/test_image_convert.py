"""image.convert: layers re-encoded for push keep their diffIDs; mismatches leave nothing behind."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from lamina.digest import Digest, sha256_digest
from lamina.errors import DigestMismatch
from lamina.image.convert import recompress
from lamina.layer.compression import CompressingWriter, open_decompressed
from lamina.spec import mediatypes as mt
from lamina.spec.canonical import canonical_json
from lamina.store.blobs import BlobStore


def _layer_tar(text: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    return buf.getvalue()


@pytest.fixture
def image(tmp_path: Path) -> tuple[BlobStore, bytes, list[Digest]]:
    """A Docker schema-2 manifest over two gzip layers."""
    store = BlobStore(tmp_path / "blobs")
    layers, diff_ids = [], []
    for text in (b"one\n", b"two\n"):
        plain = _layer_tar(text)
        with store.writer() as out:
            writer = CompressingWriter(out, "gzip", hash_output=False)  # type: ignore[arg-type]
            writer.write(plain)
            writer.finish_plain()
            info = out.commit()
        layers.append({"mediaType": mt.DOCKER_LAYER_GZIP, "digest": str(info.digest), "size": info.size})
        diff_ids.append(sha256_digest(plain))
    config = store.put_bytes(b'{"rootfs":{"type":"layers"}}')
    manifest = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST, "layers": layers,
                "config": {"mediaType": mt.DOCKER_CONFIG, "digest": str(config.digest), "size": config.size}}
    return store, canonical_json(manifest), diff_ids


def test_zstd_layers_unpack_to_the_same_diff_ids(image) -> None:
    store, manifest, diff_ids = image
    converted = recompress(store, manifest, mt.DOCKER_MANIFEST, diff_ids, "zstd")
    data = json.loads(converted.manifest)
    assert converted.media_type == data["mediaType"] == mt.OCI_MANIFEST
    assert data["config"]["mediaType"] == mt.OCI_CONFIG
    assert data["config"]["digest"] == json.loads(manifest)["config"]["digest"]   # same image ID
    assert [layer["mediaType"] for layer in data["layers"]] == [mt.OCI_LAYER_ZSTD] * 2
    assert [layer["digest"] for layer in data["layers"]] == [str(d) for d in converted.created]
    for layer, diff_id in zip(data["layers"], diff_ids, strict=True):
        with store.open(Digest.parse(layer["digest"])) as blob:
            assert sha256_digest(open_decompressed(blob).read()) == diff_id  # type: ignore[arg-type]


def test_layers_already_in_the_compression_keep_the_manifest(image) -> None:
    store, manifest, diff_ids = image
    same = recompress(store, manifest, mt.DOCKER_MANIFEST, diff_ids, "gzip")
    assert (same.manifest, same.media_type, same.created) == (manifest, mt.DOCKER_MANIFEST, ())


def test_a_layer_that_is_not_its_diff_id_fails_and_leaves_no_blob(image) -> None:
    store, manifest, diff_ids = image
    before = set(store.list())
    with pytest.raises(DigestMismatch, match="uncompressed layer"):
        recompress(store, manifest, mt.DOCKER_MANIFEST, [diff_ids[0], diff_ids[0]], "zstd")
    assert set(store.list()) == before
