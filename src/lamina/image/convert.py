"""Re-encode an image's layers in another compression for distribution (``push --compression zstd``).

The config, so the image ID and every diffID, is unchanged. A layer whose blob is already in
the wanted compression keeps that blob; any other is decompressed, checked against its diffID
and compressed again into a new blob (zstd at level 3, gzip through isal), and a new OCI
manifest (Docker's schema 2 has no zstd type) lists the blobs. Must not push, tag or touch the
image's own manifest: the result is for the push at hand, and ``created`` names the blobs this
call wrote, which the caller removes once the push is done (they are not part of any image).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lamina.digest import CHUNK, Digest
from lamina.errors import DigestMismatch, InvalidManifest
from lamina.spec import mediatypes as mt
from lamina.spec.canonical import canonical_json
from lamina.store.blobs import BlobInfo
from lamina.store.protocol import BlobStoreProtocol


@dataclass(frozen=True, slots=True, kw_only=True)
class Converted:
    """A manifest to push in place of the image's own, and the blobs written for it."""

    manifest: bytes
    media_type: str
    created: tuple[Digest, ...]


def recompress(blobs: BlobStoreProtocol, manifest: bytes, media_type: str, diff_ids: Sequence[Digest],
               compression: mt.Compression, *, in_use: Callable[[Digest], bool] = lambda _: False) -> Converted:
    """The image of *manifest* (layers in diffID order *diff_ids*) with every layer in *compression*.

    When every layer already is, that is *manifest* itself, unchanged. On failure the blobs
    written so far are removed again, except those *in_use* says an image holds (the same
    bytes may have been stored before).
    """
    data = json.loads(manifest)
    layers: list[dict[str, Any]] = list(data.get("layers") or [])
    if len(layers) != len(diff_ids):
        raise InvalidManifest(f"manifest lists {len(layers)} layers, config {len(diff_ids)} diffIDs")
    if all(_kept(str(layer.get("mediaType", "")), compression) for layer in layers):
        return Converted(manifest=manifest, media_type=media_type, created=())
    new_layers: list[dict[str, Any]] = []
    created: list[Digest] = []
    try:
        for layer, diff_id in zip(layers, diff_ids, strict=True):
            new_layers.append(_layer(blobs, layer, diff_id, compression, created))
    except BaseException:
        for digest in created:
            if not in_use(digest):
                blobs.delete(digest)
        raise
    out: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                           "config": {**data["config"], "mediaType": mt.OCI_CONFIG}, "layers": new_layers}
    if data.get("annotations"):
        out["annotations"] = data["annotations"]
    return Converted(manifest=canonical_json(out), media_type=mt.OCI_MANIFEST, created=tuple(created))


def _layer(blobs: BlobStoreProtocol, layer: dict[str, Any], diff_id: Digest, compression: mt.Compression,
           created: list[Digest]) -> dict[str, Any]:
    """The descriptor of *layer* in *compression*: the same blob when it already is, else a new one."""
    media_type = str(layer.get("mediaType", ""))
    if mt.is_nondistributable(media_type):   # never pushed: listed as it is
        return layer
    if _kept(media_type, compression):
        return {**layer, "mediaType": _oci_spelling(media_type)}
    info = reencode(blobs, Digest.parse(str(layer["digest"])), diff_id, compression)
    if info.digest not in created:
        created.append(info.digest)
    out = {k: v for k, v in layer.items() if k not in ("urls",)}
    return {**out, "mediaType": mt.layer_type(compression), "digest": str(info.digest), "size": info.size}


def reencode(blobs: BlobStoreProtocol, digest: Digest, diff_id: Digest, compression: mt.Compression) -> BlobInfo:
    """Store the layer blob *digest* again in *compression*; ``DigestMismatch`` unless it unpacks to *diff_id*."""
    from lamina.image.layers import compress_layer_blob
    from lamina.layer.compression import open_decompressed

    def check(found: Digest) -> None:
        if found != diff_id:
            raise DigestMismatch(str(diff_id), str(found), what=f"uncompressed layer {digest}")
    with blobs.open(digest) as source:
        plain = open_decompressed(source)  # type: ignore[arg-type]  # VerifyingReader is a binary stream
        _, info, _ = compress_layer_blob(blobs, lambda out: shutil.copyfileobj(plain, out, CHUNK), compression,
                                         check=check)
    return info


def _kept(media_type: str, compression: mt.Compression) -> bool:
    """A layer pushed with the blob it has: already in *compression*, or never pushed at all."""
    return mt.is_nondistributable(media_type) or mt.compression_of(media_type) == compression


def _oci_spelling(media_type: str) -> str:
    """An OCI manifest lists OCI layer types: Docker's gzip layer type becomes OCI's."""
    if not mt.is_docker(media_type):
        return media_type
    return mt.layer_type(mt.compression_of(media_type))
