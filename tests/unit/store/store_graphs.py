"""Builders for small image graphs (config, layers, manifest, index) inside a BlobStore, for store tests."""

from __future__ import annotations

import json
from typing import Any

from lamina.digest import Digest
from lamina.spec.mediatypes import OCI_INDEX, OCI_MANIFEST
from lamina.store.blobs import BlobStore

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
FOREIGN_TYPE = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"


def descriptor(store: BlobStore, data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
    info = store.put_bytes(data)
    return {"mediaType": media_type, "digest": str(info.digest), "size": info.size, **extra}


def put_json(store: BlobStore, document: dict[str, Any], media_type: str) -> dict[str, Any]:
    return descriptor(store, json.dumps(document).encode(), media_type)


def make_manifest(store: BlobStore, tag: str, layers: int = 2, *, media_type: str = OCI_MANIFEST,
                  extra_layers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    config = put_json(store, {"architecture": "amd64", "os": "linux", "tag": tag},
                      "application/vnd.docker.container.image.v1+json"
                      if "docker" in media_type else CONFIG_TYPE)
    layer_descs = [descriptor(store, f"{tag}-layer-{i}".encode() * 100, LAYER_TYPE) for i in range(layers)]
    body = {"schemaVersion": 2, "mediaType": media_type, "config": config,
            "layers": layer_descs + (extra_layers or [])}
    return put_json(store, body, media_type)


def make_index(store: BlobStore, manifests: list[dict[str, Any]], media_type: str = OCI_INDEX,
               ) -> dict[str, Any]:
    return put_json(store, {"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}, media_type)


def graph_digests(store: BlobStore, manifest: dict[str, Any]) -> set[str]:
    """The manifest digest plus its config and layer digests, read back from the store."""
    body = json.loads(store.read_bytes(Digest.parse(manifest["digest"])))
    return {manifest["digest"], body["config"]["digest"], *(d["digest"] for d in body["layers"])}

