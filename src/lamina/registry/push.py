"""Push: upload an image's blobs from the BlobStore (HEAD, cross-repo mount, upload) then PUT its manifest.

Must not build or modify manifests (the caller hands the exact bytes to push) and
must not hold a whole blob in memory (uploads stream from the stored file). An index
is pushed child manifests first, each with its blobs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from lamina._internal.logs import get_logger
from lamina.digest import Digest
from lamina.errors import UnsupportedMediaType
from lamina.reference import Reference
from lamina.registry.client import RegistryClient
from lamina.registry.transfer import (
    DEFAULT_MONOLITHIC_MAX,
    Progress,
    emit,
    run_parallel,
    unique_descriptors,
    upload_blob,
)
from lamina.spec import mediatypes
from lamina.spec.codec import decode_index, decode_manifest
from lamina.spec.descriptor import Descriptor
from lamina.store.protocol import BlobStoreProtocol

log = get_logger(__name__)

DEFAULT_TAG = "latest"


@dataclass(frozen=True, slots=True, kw_only=True)
class PushResult:
    """What was pushed: the manifest digest and byte size, and the tag (None when pushed by digest)."""

    reference: str
    tag: str | None
    digest: Digest
    size: int

    def status_line(self) -> str:
        """docker's closing line: ``TAG: digest: sha256:… size: N``."""
        return f"{self.tag or self.digest}: digest: {self.digest} size: {self.size}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PushOptions:
    max_concurrent: int = 5
    mount_from: tuple[str, ...] = ()
    monolithic_max: int = DEFAULT_MONOLITHIC_MAX
    chunk_size: int | None = None


def push(client: RegistryClient, ref: Reference, blobs: BlobStoreProtocol, manifest_bytes: bytes,
         manifest_media_type: str, *, max_concurrent: int = 5, progress: Progress | None = None,
         mount_from: Sequence[str] = (), monolithic_max: int = DEFAULT_MONOLITHIC_MAX,
         chunk_size: int | None = None) -> PushResult:
    """Push ``manifest_bytes`` and every blob it names to ``ref`` (by tag, ``latest`` by default)."""
    target = str(ref.digest) if ref.digest else (ref.tag or DEFAULT_TAG)
    options = PushOptions(max_concurrent=max_concurrent, mount_from=tuple(mount_from),
                          monolithic_max=monolithic_max, chunk_size=chunk_size)
    return push_target(client, ref.remote_path, target, blobs, manifest_bytes, manifest_media_type,
                       options=options, progress=progress)


def push_target(client: RegistryClient, repo: str, target: str, blobs: BlobStoreProtocol,
                manifest_bytes: bytes, manifest_media_type: str, *, options: PushOptions = PushOptions(),
                progress: Progress | None = None) -> PushResult:
    """Push to ``repo`` at ``target`` (a tag or the manifest's own ``sha256:…``)."""
    name = f"{client.domain}/{repo}" + (f"@{target}" if ":" in target else f":{target}")
    client.authorize(repo, push=True)
    if mediatypes.is_index(manifest_media_type):
        for child in decode_index(manifest_bytes, manifest_media_type).manifests:
            data = blobs.read_bytes(child.digest, child.size)
            _push_image(client, repo, name, blobs, data, child.media_type, options, progress)
            client.put_manifest(repo, str(child.digest), data, child.media_type)
    else:
        _push_image(client, repo, name, blobs, manifest_bytes, manifest_media_type, options, progress)
    digest = client.put_manifest(repo, target, manifest_bytes, manifest_media_type)
    log.debug("pushed reference=%s digest=%s size=%d", name, digest, len(manifest_bytes))
    return PushResult(reference=name, tag=None if ":" in target else target, digest=digest,
                      size=len(manifest_bytes))


def _push_image(client: RegistryClient, repo: str, name: str, blobs: BlobStoreProtocol, data: bytes,
                media_type: str, options: PushOptions, progress: Progress | None) -> None:
    if not mediatypes.is_manifest(media_type):
        raise UnsupportedMediaType(media_type, f"push {name}: unsupported manifest media type {media_type}")
    manifest = decode_manifest(data, media_type)
    descs = unique_descriptors([manifest.config, *manifest.layers])
    pushable = [d for d in descs if not mediatypes.is_nondistributable(d.media_type)]
    for desc in pushable:  # fail before any upload when a blob is missing locally
        blobs.stat(desc.digest)
        emit(progress, desc.digest, "Preparing", 0, desc.size)
    tasks = [functools.partial(push_blob, client, repo, d, blobs, options, progress) for d in pushable]
    run_parallel(tasks, options.max_concurrent)


def push_blob(client: RegistryClient, repo: str, desc: Descriptor, blobs: BlobStoreProtocol,
              options: PushOptions, progress: Progress | None = None) -> str:
    """Make one blob present in ``repo``; returns how: "exists", "mounted" or "uploaded"."""
    if client.head_blob(repo, desc.digest) is not None:
        emit(progress, desc.digest, "Layer already exists", desc.size, desc.size)
        return "exists"
    for source in options.mount_from:
        if source != repo and client.mount_blob(repo, desc.digest, source):
            emit(progress, desc.digest, "Mounted from", desc.size, desc.size, detail=source)
            return "mounted"
    upload_blob(client, repo, desc.digest, desc.size, blobs, progress=progress,
                monolithic_max=options.monolithic_max, chunk_size=options.chunk_size)
    emit(progress, desc.digest, "Pushed", desc.size, desc.size)
    return "uploaded"

