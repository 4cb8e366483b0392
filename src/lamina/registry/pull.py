"""Pull: resolve a reference (tag or digest -> index -> this platform's manifest) and fetch its blobs.

Must not touch drivers, the layer store or the image store: it fills the BlobStore
(config, layers, then manifest and index, each verified before it becomes visible)
and returns what the caller needs to register the image. A failed pull leaves no
partial blob visible; whole verified blobs already fetched stay (content-addressed).

With a ``layer_sink`` the config is fetched first and handed to the sink's factory; each
layer that is downloaded is then also streamed to the sink as it arrives (``stream_blob``),
so the caller can decompress and extract while the network runs. What the sink did is
unverified until ``pull`` returns: a failing digest fails the pull.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lamina._internal.logs import get_logger
from lamina.digest import Digest
from lamina.errors import InvalidManifest, UnsupportedMediaType, UnsupportedPlatform
from lamina.reference import Reference
from lamina.registry.client import FetchedManifest, RegistryClient
from lamina.registry.transfer import (
    BlobFeed,
    Progress,
    download_blob,
    emit,
    run_parallel,
    stream_blob,
    unique_descriptors,
)
from lamina.spec import mediatypes
from lamina.spec.codec import decode_index, decode_manifest
from lamina.spec.descriptor import Descriptor, Platform
from lamina.spec.manifest import Manifest
from lamina.store.protocol import BlobStoreProtocol

log = get_logger(__name__)

DEFAULT_TAG = "latest"

LayerSink = Callable[[Descriptor, BlobFeed], None]
"""Reads one layer blob while it downloads (on the download's worker thread)."""
SinkFactory = Callable[[bytes, Sequence[Descriptor]], LayerSink | None]
"""Called once per image with the stored config bytes and the manifest's layers, before any layer is fetched."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PullResult:
    """A pulled image: the platform manifest as served, its config and layers (all now in the store)."""

    reference: str
    manifest_digest: Digest
    manifest_bytes: bytes
    manifest_media_type: str
    config_digest: Digest
    config: Descriptor
    layers: tuple[Descriptor, ...]
    index_digest: Digest | None = None
    platform: Platform | None = None


def pull(client: RegistryClient, ref: Reference, blobs: BlobStoreProtocol, *,
         platform: Platform | None = None, max_concurrent: int = 3,
         progress: Progress | None = None, layer_sink: SinkFactory | None = None) -> PullResult:
    """Pull ``ref`` (by digest if it has one, else its tag or ``latest``) into ``blobs``."""
    target = str(ref.digest) if ref.digest else (ref.tag or DEFAULT_TAG)
    return pull_target(client, ref.remote_path, target, blobs, platform=platform,
                       max_concurrent=max_concurrent, progress=progress, layer_sink=layer_sink)


def pull_all_tags(client: RegistryClient, ref: Reference, blobs: BlobStoreProtocol, *,
                  platform: Platform | None = None, max_concurrent: int = 3,
                  progress: Progress | None = None,
                  layer_sink: SinkFactory | None = None) -> list[PullResult]:
    """Pull every tag of ``ref``'s repository (``docker pull --all-tags``), in tag-list order."""
    return [pull_target(client, ref.remote_path, tag, blobs, platform=platform,
                        max_concurrent=max_concurrent, progress=progress, layer_sink=layer_sink)
            for tag in client.list_tags(ref.remote_path)]


def pull_target(client: RegistryClient, repo: str, target: str, blobs: BlobStoreProtocol, *,
                platform: Platform | None = None, max_concurrent: int = 3,
                progress: Progress | None = None, layer_sink: SinkFactory | None = None) -> PullResult:
    """Pull ``repo`` at ``target`` (a tag or ``sha256:…``) from ``client``'s registry into ``blobs``."""
    name = f"{client.domain}/{repo}" + (f"@{target}" if ":" in target else f":{target}")
    client.authorize(repo)
    fetched = client.get_manifest(repo, target)
    index: FetchedManifest | None = None
    want = platform or Platform.current()
    if mediatypes.is_index(fetched.media_type):
        index = fetched
        fetched = _platform_manifest(client, repo, name, fetched, want)
    manifest = _decode_image(fetched, name)
    log.debug("pulling reference=%s manifest=%s layers=%d", name, fetched.digest, len(manifest.layers))
    _fetch_blobs(client, repo, manifest, blobs, max_concurrent, progress, layer_sink)
    blobs.put_bytes(fetched.data, expected=fetched.digest)
    if index is not None:
        blobs.put_bytes(index.data, expected=index.digest)
    return PullResult(reference=name, manifest_digest=fetched.digest, manifest_bytes=fetched.data,
                      manifest_media_type=fetched.media_type, config_digest=manifest.config.digest,
                      config=manifest.config, layers=tuple(manifest.layers),
                      index_digest=index.digest if index else None,
                      platform=want if index is not None else None)


def _platform_manifest(client: RegistryClient, repo: str, name: str, fetched: FetchedManifest,
                       want: Platform) -> FetchedManifest:
    index = decode_index(fetched.data, fetched.media_type)
    chosen = index.select(want)
    if chosen is None:
        have = ", ".join(str(p) for p in index.platforms()) or "none"
        raise UnsupportedPlatform(
            f"pull {name}: no matching manifest for {want} in the manifest list entries (has: {have})",
            reference=name, platform=str(want))
    child = client.get_manifest(repo, str(chosen.digest))
    if len(child.data) != chosen.size:
        raise InvalidManifest(f"pull {name}: manifest {chosen.digest} is {len(child.data)} bytes, "
                              f"index says {chosen.size}", digest=str(chosen.digest))
    return child


def _decode_image(fetched: FetchedManifest, name: str) -> Manifest:
    if not mediatypes.is_manifest(fetched.media_type):
        raise UnsupportedMediaType(fetched.media_type,
                                   f"pull {name}: unsupported manifest media type {fetched.media_type}")
    manifest = decode_manifest(fetched.data, fetched.media_type)
    for desc in manifest.layers:
        if not mediatypes.is_layer(desc.media_type):
            raise UnsupportedMediaType(desc.media_type,
                                       f"pull {name}: unsupported layer media type {desc.media_type}")
    return manifest


def _fetch_blobs(client: RegistryClient, repo: str, manifest: Manifest, blobs: BlobStoreProtocol,
                 max_concurrent: int, progress: Progress | None, layer_sink: SinkFactory | None) -> None:
    """Config and layers in parallel; present blobs are skipped ("Already exists").

    With ``layer_sink`` the config comes first, then the layers stream through the sink."""
    sink: LayerSink | None = None
    if layer_sink is not None:
        if not blobs.exists(manifest.config.digest):
            download_blob(client, repo, manifest.config.digest, manifest.config.size, blobs)
        sink = layer_sink(blobs.read_bytes(manifest.config.digest, manifest.config.size), manifest.layers)
    wanted: list[Descriptor] = []
    for desc in unique_descriptors([manifest.config, *manifest.layers]):
        if blobs.exists(desc.digest):
            if desc is not manifest.config:
                emit(progress, desc.digest, "Already exists")
            continue
        wanted.append(desc)
        if desc is not manifest.config:
            emit(progress, desc.digest, "Waiting", 0, desc.size)

    def task(desc: Descriptor) -> None:
        layer_progress = None if desc is manifest.config else progress
        if sink is not None and desc is not manifest.config:
            stream_blob(client, repo, desc.digest, desc.size, blobs, functools.partial(sink, desc),
                        progress=layer_progress)
        else:
            download_blob(client, repo, desc.digest, desc.size, blobs, progress=layer_progress)
        emit(layer_progress, desc.digest, "Download complete", desc.size, desc.size)
        emit(layer_progress, desc.digest, "Pull complete", desc.size, desc.size)

    run_parallel([functools.partial(task, d) for d in wanted], max_concurrent)

