"""OCI image-layout export and import: ``oci-layout``, ``index.json`` and ``blobs/`` on disk.

Must not know images, tags in sqlite, or tar archives (save/load wraps this in a tar).

``export_layout`` copies every blob reachable from the given refs (verified on read and on
write), then writes ``index.json`` and ``oci-layout`` atomically, last, so an interrupted
export never names a blob it lacks. ``read_layout`` validates ``oci-layout`` first (umoci
``Open``), then gives the index entries and verified blob reads.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina._internal.fsops import atomic_write
from lamina.digest import Digest, VerifyingReader
from lamina.errors import BlobNotFound, InvalidArchive, InvalidArgument, UnsupportedLayoutVersion
from lamina.store.blobs import (
    INDEX_FILE,
    INDEX_MEDIA_TYPE,
    LAYOUT_VERSION,
    OCI_LAYOUT_FILE,
    BlobStore,
)
from lamina.store.protocol import BlobStoreProtocol
from lamina.store.refs import REF_NAME_ANNOTATION, check_descriptor, check_ref_name, ref_name
from lamina.store.walk import descriptor_digest, walk

Descriptor = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class LayoutEntry:
    """One ``index.json`` manifest entry: its ref name (if annotated) and its descriptor."""

    name: str | None
    descriptor: Descriptor = field(hash=False)


def copy_blobs(src: BlobStoreProtocol, dst: BlobStoreProtocol, root: Descriptor) -> int:
    """Copy every blob reachable from *root* into *dst*, verified; returns how many were new.

    Foreign layers absent from *src* are skipped; any other missing blob raises BlobNotFound.
    """
    copied = 0
    for descriptor in walk(src, root, on_missing=_raise_missing):
        digest = descriptor_digest(descriptor)
        if dst.exists(digest):
            continue
        size = descriptor.get("size")
        size = size if isinstance(size, int) else None
        with src.open(digest, size) as reader:
            dst.put(reader, expected=digest, size=size)
        copied += 1
    return copied


def export_layout(blobs: BlobStoreProtocol, dest: str | os.PathLike[str],
                  refs: dict[str, Descriptor]) -> None:
    """Write an OCI layout at *dest* holding *refs* (name -> manifest/index descriptor).

    *dest* may be new or an existing layout; its ``index.json`` is replaced by exactly *refs*
    (sorted by name). Raises BlobNotFound for a missing blob, InvalidReference for a bad name.
    """
    root = Path(dest)
    entries = [_named_entry(name, refs[name]) for name in sorted(refs)]
    target = BlobStore(root)
    for entry in entries:
        copy_blobs(blobs, target, entry)
    index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": entries}
    atomic_write(root / INDEX_FILE, json.dumps(index, separators=(",", ":")).encode())
    atomic_write(root / OCI_LAYOUT_FILE, json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode())
    _strip_store_files(target)


def read_layout(src: str | os.PathLike[str]) -> LayoutReader:
    """Open the layout at *src* for reading; raises InvalidArchive or UnsupportedLayoutVersion."""
    root = Path(src)
    version = _read_json_file(root / OCI_LAYOUT_FILE).get("imageLayoutVersion")
    if version != LAYOUT_VERSION:
        raise UnsupportedLayoutVersion(str(root), str(version), LAYOUT_VERSION)
    index = _read_json_file(root / INDEX_FILE)
    manifests = index.get("manifests")
    if manifests is None:  # docker 25 writes "manifests": null
        manifests = []
    if not isinstance(manifests, list):
        raise InvalidArchive(f"read {root / INDEX_FILE}: manifests is not a list", path=str(root))
    entries = tuple(_layout_entry(root, d) for d in manifests)
    return LayoutReader(root, entries)


class LayoutReader:
    """A validated OCI layout on disk: its index entries, and verified blob reads."""

    def __init__(self, root: Path, entries: tuple[LayoutEntry, ...]) -> None:
        self.root = root
        self.entries = entries
        self.blobs = BlobStore(root, create=False)

    def manifests(self) -> list[LayoutEntry]:
        """The index.json entries in file order, named or not."""
        return list(self.entries)

    def refs(self) -> dict[str, Descriptor]:
        """Named entries only: ref name -> descriptor."""
        return {e.name: dict(e.descriptor) for e in self.entries if e.name is not None}

    def open(self, digest: Digest, size: int | None = None) -> VerifyingReader:
        """A verifying reader for one blob; raises BlobNotFound."""
        return self.blobs.open(digest, size)

    def read_bytes(self, digest: Digest, size: int | None = None) -> bytes:
        return self.blobs.read_bytes(digest, size)

    def copy_into(self, dst: BlobStoreProtocol, entry: LayoutEntry) -> int:
        """Import the graph below *entry* into *dst* (verified); returns how many blobs were new."""
        return copy_blobs(self.blobs, dst, entry.descriptor)


def _named_entry(name: str, descriptor: Descriptor) -> Descriptor:
    entry = check_descriptor(descriptor)
    annotations = dict(entry.get("annotations") or {})
    annotations[REF_NAME_ANNOTATION] = check_ref_name(name)
    entry["annotations"] = annotations
    return entry


def _layout_entry(root: Path, descriptor: object) -> LayoutEntry:
    if not isinstance(descriptor, dict):
        raise InvalidArchive(f"read {root / INDEX_FILE}: manifest entry is not an object", path=str(root))
    try:
        checked = check_descriptor(descriptor)
    except InvalidArgument as exc:
        raise InvalidArchive(f"read {root / INDEX_FILE}: {exc}", path=str(root)) from exc
    return LayoutEntry(name=ref_name(checked), descriptor=checked)


def _read_json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise InvalidArchive(f"read layout: {path.name} is missing", path=str(path)) from exc
    except ValueError as exc:
        raise InvalidArchive(f"read {path}: invalid JSON: {exc}", path=str(path)) from exc
    if not isinstance(data, dict):
        raise InvalidArchive(f"read {path}: not a JSON object", path=str(path))
    return data


def _strip_store_files(store: BlobStore) -> None:
    """Remove the lamina-only files (empty staging dir, gc lock) so *dest* is a pure OCI layout."""
    with contextlib.suppress(OSError):
        store.staging_root.rmdir()
    with contextlib.suppress(FileNotFoundError):
        store.lock_path.unlink()


def _raise_missing(descriptor: Descriptor) -> None:
    raise BlobNotFound(str(descriptor.get("digest")))
