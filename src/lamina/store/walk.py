"""Descriptor graph walk: index -> manifests -> config + layers, reading JSON blobs from a blob store.

Must not write anything, fetch anything remote, or interpret configs and layers (they are leaves).

Rules (umoci ``casext/walk.go``):
- each digest is yielded once, parents before children (depth-first, document order);
- index and manifest blobs are read verified (``read_bytes``) and capped at MAX_MANIFEST_SIZE;
- a missing blob is reported through ``on_missing`` (default: a warning) and still yielded,
  since it is part of the graph; its children cannot be known;
- non-distributable / foreign layers are yielded only if present locally and never reported
  missing: registries do not serve them, so their absence is normal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from lamina._internal.logs import get_logger
from lamina.digest import Digest
from lamina.errors import InvalidManifest
from lamina.spec.mediatypes import (
    DOCKER_FOREIGN_LAYER,
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
)
from lamina.store.protocol import BlobStoreProtocol

log = get_logger(__name__)

MAX_MANIFEST_SIZE = 4 << 20  # the distribution spec's manifest limit

Descriptor = dict[str, Any]
MissingHandler = Callable[[Descriptor], None]


def is_foreign(descriptor: Descriptor) -> bool:
    media_type = str(descriptor.get("mediaType", ""))
    return media_type.startswith(DOCKER_FOREIGN_LAYER) or ".nondistributable." in media_type


def descriptor_digest(descriptor: Descriptor) -> Digest:
    """The validated digest of a descriptor dict; raises InvalidDigest/InvalidManifest."""
    value = descriptor.get("digest")
    if not isinstance(value, str):
        raise InvalidManifest(f"walk descriptor: digest missing or not a string: {value!r}")
    return Digest.parse(value)


def walk(blobs: BlobStoreProtocol, root: Descriptor, *,
         on_missing: MissingHandler | None = None) -> Iterator[Descriptor]:
    """Yield *root* and every descriptor reachable from it, each digest once.

    Raises InvalidManifest for an index/manifest blob that is not valid JSON of the right
    shape, and DataCorruption if a manifest blob fails verification.
    """
    report = on_missing or _warn_missing
    seen: set[Digest] = set()
    stack = [root]
    while stack:
        descriptor = stack.pop()
        digest = descriptor_digest(descriptor)
        if digest in seen:
            continue
        seen.add(digest)
        if not blobs.exists(digest):
            if not is_foreign(descriptor):
                report(descriptor)
                yield descriptor
            continue
        yield descriptor
        stack.extend(reversed(children(blobs, descriptor)))


def children(blobs: BlobStoreProtocol, descriptor: Descriptor) -> list[Descriptor]:
    """The descriptors an index or manifest refers to; [] for any other media type."""
    media_type = descriptor.get("mediaType")
    if media_type not in INDEX_TYPES and media_type not in MANIFEST_TYPES:
        return []
    document = read_json(blobs, descriptor)
    if media_type in INDEX_TYPES:
        return _descriptor_list(document, "manifests", descriptor)
    config = document.get("config")
    found = [config] if isinstance(config, dict) else []
    return found + _descriptor_list(document, "layers", descriptor)


def read_json(blobs: BlobStoreProtocol, descriptor: Descriptor) -> dict[str, Any]:
    """Read and parse a JSON object blob (verified, size-capped); raises InvalidManifest."""
    digest = descriptor_digest(descriptor)
    size = descriptor.get("size")
    if isinstance(size, int) and size > MAX_MANIFEST_SIZE:
        raise InvalidManifest(f"read manifest {digest}: {size} bytes exceeds {MAX_MANIFEST_SIZE}",
                              digest=str(digest))
    data = blobs.read_bytes(digest, size if isinstance(size, int) else None)
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise InvalidManifest(f"parse manifest {digest}: {exc}", digest=str(digest)) from exc
    if not isinstance(document, dict):
        raise InvalidManifest(f"parse manifest {digest}: not a JSON object", digest=str(digest))
    return document


def sniff_descriptor(blobs: BlobStoreProtocol, digest: Digest) -> Descriptor:
    """A descriptor for a stored blob known only by digest (GC roots): media type from its JSON.

    Blobs that are not an index or manifest get ``application/octet-stream`` (a leaf).
    Raises BlobNotFound.
    """
    size = blobs.stat(digest)
    descriptor: Descriptor = {"mediaType": "application/octet-stream", "digest": str(digest), "size": size}
    if size > MAX_MANIFEST_SIZE:
        return descriptor
    try:
        document = json.loads(blobs.read_bytes(digest, size))
    except ValueError:
        return descriptor
    if isinstance(document, dict):
        descriptor["mediaType"] = _guess_media_type(document) or descriptor["mediaType"]
    return descriptor


def _guess_media_type(document: dict[str, Any]) -> str | None:
    declared = document.get("mediaType")
    if declared in INDEX_TYPES or declared in MANIFEST_TYPES:
        return str(declared)
    if document.get("schemaVersion") != 2 or declared is not None:
        return None
    if isinstance(document.get("manifests"), list):
        return OCI_INDEX
    if isinstance(document.get("config"), dict) and isinstance(document.get("layers"), list):
        return OCI_MANIFEST
    return None


def _descriptor_list(document: dict[str, Any], key: str, parent: Descriptor) -> list[Descriptor]:
    items = document.get(key)
    if items is None:  # docker 25 may write "manifests": null
        items = []
    if not isinstance(items, list) or not all(isinstance(d, dict) for d in items):
        raise InvalidManifest(f"walk {parent.get('digest')}: {key} is not a list of descriptors",
                              digest=str(parent.get("digest")))
    return items


def _warn_missing(descriptor: Descriptor) -> None:
    log.warning("blob missing from store digest=%s mediaType=%s",
                descriptor.get("digest"), descriptor.get("mediaType"))


def find_missing(blobs: BlobStoreProtocol, root: Descriptor) -> list[Descriptor]:
    """Every non-foreign descriptor reachable from *root* whose blob is absent."""
    missing: list[Descriptor] = []
    for _ in walk(blobs, root, on_missing=missing.append):
        pass
    return missing
