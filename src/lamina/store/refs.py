"""RefStore: ref name -> descriptor, kept in an OCI layout's ``index.json``.

Must not read blobs or know what a descriptor points at; it only edits index.json.

A ref is a descriptor in ``index.json``'s ``manifests`` annotated with
``org.opencontainers.image.ref.name``. Descriptors are plain dicts
(``{"mediaType", "digest", "size", "annotations"?, ...}``) until ``lamina.spec.descriptor``
settles; unknown descriptor fields and other index fields are preserved. Every change is a
read-modify-write of the whole file under ``<path>/index.lock``, committed by atomic rename.
The image store keeps its tags in sqlite; this is for OCI layout export/import.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from lamina._internal.fsops import atomic_write
from lamina._internal.locking import FileLock
from lamina._internal.logs import get_logger
from lamina.digest import Digest
from lamina.errors import InvalidArgument, InvalidManifest, InvalidReference, ManifestUnknown

log = get_logger(__name__)

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
# image-spec annotations.md: ref = component ("/" component)*; separators [-._:@+] or "--".
_COMPONENT = r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
_REF_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")

Descriptor = dict[str, Any]


def check_descriptor(descriptor: Descriptor) -> Descriptor:
    """Validate the required descriptor fields and return a shallow copy; raises InvalidArgument."""
    if not isinstance(descriptor, dict):
        raise InvalidArgument(f"check descriptor: expected an object, got {type(descriptor).__name__}")
    media_type, digest, size = (descriptor.get(k) for k in ("mediaType", "digest", "size"))
    if not isinstance(media_type, str) or not media_type:
        raise InvalidArgument("check descriptor: mediaType must be a non-empty string")
    if not isinstance(digest, str):
        raise InvalidArgument("check descriptor: digest must be a string")
    Digest.parse(digest)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidArgument(f"check descriptor {digest}: size must be a non-negative integer")
    return dict(descriptor)


def check_ref_name(name: str) -> str:
    if not _REF_NAME.match(name):
        raise InvalidReference(name, "not a valid OCI ref name")
    return name


def ref_name(descriptor: Descriptor) -> str | None:
    annotations = descriptor.get("annotations") or {}
    name = annotations.get(REF_NAME_ANNOTATION) if isinstance(annotations, dict) else None
    return name if isinstance(name, str) else None


class RefStore:
    """Names in ``<path>/index.json``. ``set``/``delete`` rewrite the file atomically under a lock."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.root = Path(path)
        self.index_path = self.root / "index.json"
        self.lock_path = self.root / "index.lock"

    def set(self, name: str, descriptor: Descriptor) -> None:
        """Point *name* at *descriptor*, replacing any previous target of the same name."""
        entry = check_descriptor(descriptor)
        annotations = dict(entry.get("annotations") or {})
        annotations[REF_NAME_ANNOTATION] = check_ref_name(name)
        entry["annotations"] = annotations
        with FileLock(self.lock_path):
            index = self._load()
            kept = [d for d in index["manifests"] if ref_name(d) != name]
            index["manifests"] = [*kept, entry]
            self._save(index)
        log.debug("set ref name=%s digest=%s", name, entry["digest"])

    def get(self, name: str) -> Descriptor:
        """The descriptor *name* points at (annotations included); raises ManifestUnknown."""
        for descriptor in self._load()["manifests"]:
            if ref_name(descriptor) == name:
                return dict(descriptor)
        raise ManifestUnknown(name)

    def delete(self, name: str) -> bool:
        """Remove *name*; True if it existed. The blobs stay until gc()."""
        with FileLock(self.lock_path):
            index = self._load()
            kept = [d for d in index["manifests"] if ref_name(d) != name]
            if len(kept) == len(index["manifests"]):
                return False
            index["manifests"] = kept
            self._save(index)
        return True

    def list(self) -> dict[str, Descriptor]:
        """Every named descriptor; unnamed index entries are not listed (but are preserved)."""
        refs: dict[str, Descriptor] = {}
        for descriptor in self._load()["manifests"]:
            name = ref_name(descriptor)
            if name is not None:
                refs[name] = dict(descriptor)
        return refs

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.index_path.read_bytes())
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}
        except ValueError as exc:
            raise InvalidManifest(f"read {self.index_path}: invalid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidManifest(f"read {self.index_path}: index is not a JSON object")
        manifests = data.get("manifests")
        if manifests is None:  # docker 25 writes "manifests": null
            manifests = []
        if not isinstance(manifests, list) or not all(isinstance(d, dict) for d in manifests):
            raise InvalidManifest(f"read {self.index_path}: manifests is not a list of descriptors")
        data["manifests"] = manifests
        return data

    def _save(self, index: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write(self.index_path, json.dumps(index, indent=None, separators=(",", ":")).encode())
