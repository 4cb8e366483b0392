"""DistributionService: pull images from and push them to OCI registries, login/logout.

Must not print or exit. Spans the registry client (blobs in, blobs out) and the image store
(layers registered, image added), which is why it lives in ``engine``. A pull that fails leaves
no image and no layer visible: layers it registered are released again.

Pull streams: for the overlay driver (a layer's ``diff/`` holds only its own tar) each new layer
gets its driver directory up front, in chain order, and is extracted while it downloads
(``registry.pull``'s ``layer_sink``: decompress, diffID hash, apply, all in one pass). A layer is
recorded only after the pull returned (every blob digest verified) and its diffID matched, in
chain order; directories never recorded are removed. Other drivers (copy: a full copy of the
parent) and anything the stream did not fill go through ``ImageStore``'s sequential path.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from lamina._internal.logs import get_logger
from lamina.digest import Digest
from lamina.reference import Reference

if TYPE_CHECKING:
    from lamina.engine.engine import Engine
    from lamina.image.convert import Converted
    from lamina.image.layers import Layer, LayerStore
    from lamina.image.store import Image
    from lamina.registry.client import RegistryClient
    from lamina.registry.pull import LayerSink, PullResult
    from lamina.registry.push import PushResult
    from lamina.registry.transfer import BlobFeed, ProgressEvent
    from lamina.spec.descriptor import Descriptor
    from lamina.spec.mediatypes import Compression

log = get_logger(__name__)
Progress = Callable[["ProgressEvent"], None]


class DistributionService:
    """Registry use cases over one open Engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def credentials_path(self) -> Path:
        return self.engine.config.config_dir / "config.json"

    def client(self, domain: str) -> RegistryClient:
        from lamina.registry.auth import CredentialStore
        from lamina.registry.client import RegistryClient
        insecure = True if domain in self.engine.config.insecure_registries else None
        return RegistryClient(domain, credentials=CredentialStore(self.credentials_path), insecure=insecure)

    # ------------------------------------------------------------ pull
    def pull(self, name: str, *, all_tags: bool = False, platform: str | None = None,
             progress: Progress | None = None, max_concurrent: int = 3) -> list[Image]:
        """Pull *name* (or every tag of its repository) and register it; returns the images."""
        from lamina.registry.pull import pull, pull_all_tags
        from lamina.spec.descriptor import Platform
        ref = Reference.parse(name)
        want = Platform.parse(platform) if platform else None
        plans: list[_Plan] = []
        sink = functools.partial(self._plan, plans)
        try:
            with self.client(ref.domain) as client:
                if all_tags:
                    results = pull_all_tags(client, ref, self.engine.blobs, platform=want,
                                            max_concurrent=max_concurrent, progress=progress, layer_sink=sink)
                else:
                    results = [pull(client, ref, self.engine.blobs, platform=want,
                                    max_concurrent=max_concurrent, progress=progress, layer_sink=sink)]
            plans += [_Plan() for _ in results[len(plans):]]
            images = [self._register(result, plan) for result, plan in zip(results, plans, strict=True)]
            for image in images:
                self.engine.images.event("pull", str(image.id), name=str(ref))
            return images
        finally:
            for plan in plans:
                plan.discard(self.engine.layers)

    def _plan(self, plans: list[_Plan], config_bytes: bytes, descs: Sequence[Descriptor]) -> LayerSink | None:
        """Create driver dirs for the layers not stored yet; the returned sink fills them as they download."""
        from lamina.image.store import config_diff_ids
        from lamina.layer.ids import chain_id
        layers = self.engine.layers
        diff_ids = config_diff_ids(config_bytes, len(descs))
        plan = _Plan()
        plans.append(plan)
        if layers.driver.name != "overlay":
            return None  # copy: a layer dir starts as a full copy of its filled parent
        parent_id: str | None = None
        for i, diff_id in enumerate(diff_ids):
            existing = layers.find(chain_id(diff_ids[: i + 1]))
            if existing is not None:
                parent_id = existing.layer_id
                continue
            layer_id = os.urandom(16).hex()
            layers.driver.create(layer_id, parent_id)
            plan.dirs[i] = _Dir(layer_id=layer_id, parent_id=parent_id, diff_id=diff_id)
            plan.by_digest.setdefault(descs[i].digest, i)
            parent_id = layer_id
        return functools.partial(self._fill, plan)

    def _fill(self, plan: _Plan, desc: Descriptor, feed: BlobFeed) -> None:
        """The layer sink: extract the downloading blob into its planned directory (unverified yet)."""
        index = plan.by_digest.get(desc.digest)
        if index is None:
            return
        target = plan.dirs[index]
        target.size = self.engine.layers.apply_stream(
            target.layer_id, target.parent_id, cast("BinaryIO", feed), target.diff_id,
            what=f"layer {desc.digest}")

    def _register(self, result: PullResult, plan: _Plan) -> Image:
        ref = Reference.parse(result.reference)
        store = self.engine.image_store
        config_bytes = self.engine.blobs.read_bytes(result.config_digest)
        created: list[Layer] = []
        try:
            layers = self._record_layers(config_bytes, result.layers, plan, created)
            digest = result.index_digest or result.manifest_digest
            return store.add(config_bytes, layers, tags=[str(ref)] if ref.digest is None else [],
                             manifest_bytes=result.manifest_bytes,
                             manifest_media_type=result.manifest_media_type,
                             repo_digest=f"{ref.repository}@{digest}")
        except BaseException:
            for layer in reversed(created):
                self.engine.layers.release(layer.chain_id)
            raise

    def _record_layers(self, config_bytes: bytes, descs: Sequence[Descriptor], plan: _Plan,
                       created: list[Layer]) -> list[Layer]:
        """Bottom first: adopt each planned directory (filled while downloading, or now from the
        verified blob) whose parent is what the plan assumed; anything else the sequential way."""
        from lamina.image.layers import next_chain_id
        from lamina.image.store import config_diff_ids
        store = self.engine.layers
        layers: list[Layer] = []
        for i, (diff_id, desc) in enumerate(zip(config_diff_ids(config_bytes, len(descs)), descs, strict=True)):
            parent = layers[-1] if layers else None
            layer = store.find(next_chain_id(parent, diff_id))
            target = plan.dirs.get(i)
            if target is not None and (layer is not None or target.parent_id != (parent.layer_id if parent else None)):
                plan.discard(store, start=i)  # another pull won a layer: later dirs sit on the wrong parent
                target = None
            if layer is None:
                layer = (self._adopt(target, parent, desc) if target is not None else
                         store.ensure(diff_id, parent, desc.digest, desc.size, desc.media_type))
                plan.dirs.pop(i, None)
                if target is None or layer.layer_id == target.layer_id:
                    created.append(layer)
            layers.append(layer)
        return layers

    def _adopt(self, target: _Dir, parent: Layer | None, desc: Descriptor) -> Layer:
        store = self.engine.layers
        if target.size is None:  # not streamed (blob was already stored, or a repeated blob)
            with self.engine.blobs.open(desc.digest, desc.size) as raw:
                target.size = store.apply_stream(target.layer_id, target.parent_id, cast("BinaryIO", raw),
                                                 target.diff_id, what=f"layer {desc.digest}")
        return store.adopt(target.layer_id, target.diff_id, parent, size=target.size, blob_digest=desc.digest,
                           blob_size=desc.size, media_type=desc.media_type)

    # ------------------------------------------------------------ push
    def push(self, name: str, *, progress: Progress | None = None, max_concurrent: int = 5,
             compression: Compression | None = None) -> PushResult:
        """Push the image named *name* to its registry; records the pushed repo digest.

        With *compression* every layer goes in that compression (``lamina.image.convert``): a layer
        stored otherwise is re-encoded for this push and its new blob removed afterwards.
        """
        from lamina.registry.push import push
        ref = Reference.parse(name)
        image = self.engine.images.resolve(name)
        manifest = self.engine.blobs.read_bytes(image.manifest_digest)
        media_type = image.manifest_media_type
        created: tuple[Digest, ...] = ()
        if compression is not None:
            converted = self._recompressed(image, manifest, compression)
            manifest, media_type, created = converted.manifest, converted.media_type, converted.created
        mount_from = [r.split("@")[0] for r in image.repo_digests
                      if Reference.parse(r).domain == ref.domain]
        try:
            with self.client(ref.domain) as client:
                result = push(client, ref, self.engine.blobs, manifest, media_type,
                              max_concurrent=max_concurrent, progress=progress,
                              mount_from=[Reference.parse(m).remote_path for m in mount_from])
        finally:
            self._drop_unused(created)
        with self.engine.db.transaction() as cur:
            cur.execute("INSERT OR REPLACE INTO repo_digests VALUES (?,?)",
                        (f"{ref.repository}@{result.digest}", str(image.id)))
        self.engine.images.event("push", str(image.id), name=str(ref))
        return result

    def _recompressed(self, image: Image, manifest: bytes, compression: Compression) -> Converted:
        from lamina.errors import InvalidOption
        from lamina.image.convert import recompress
        from lamina.spec import mediatypes as mt
        if not mt.is_manifest(image.manifest_media_type):
            raise InvalidOption(f"push --compression: {image.id} is a multi-platform index; push it as it is")
        diff_ids = [layer.diff_id for layer in self.engine.image_store.layer_stack(image)]
        store = self.engine.image_store
        return recompress(self.engine.blobs, manifest, image.manifest_media_type, diff_ids, compression,
                          in_use=lambda digest: store.blob_referenced(str(digest)))

    def _drop_unused(self, digests: Sequence[Digest]) -> None:
        """Blobs written for one push go again unless an image uses them."""
        for digest in digests:
            if not self.engine.image_store.blob_referenced(str(digest)):
                self.engine.blobs.delete(digest)

    # ------------------------------------------------------------ credentials
    def login(self, server: str, username: str, password: str) -> None:
        from lamina.registry.auth import login
        domain = _domain(server)
        login(domain, username, password, self.credentials_path,
              insecure=True if domain in self.engine.config.insecure_registries else None)

    def logout(self, server: str) -> bool:
        from lamina.registry.auth import logout
        return logout(_domain(server), self.credentials_path)


@dataclass(slots=True, kw_only=True)
class _Dir:
    """A driver directory made for one layer of a pull; ``size`` is set once it is filled."""

    layer_id: str
    parent_id: str | None
    diff_id: Digest
    size: int | None = None


@dataclass(slots=True)
class _Plan:
    """The directories one pulled image's new layers get, by layer position (mutable while pulling)."""

    dirs: dict[int, _Dir] = field(default_factory=dict)
    by_digest: dict[Digest, int] = field(default_factory=dict)

    def discard(self, layers: LayerStore, start: int = 0) -> None:
        """Remove the directories from position *start* up that were never recorded, top first."""
        for i in sorted((i for i in self.dirs if i >= start), reverse=True):
            layers.driver.remove(self.dirs.pop(i).layer_id)


def _domain(server: str) -> str:
    """docker login accepts ``host``, ``host:port`` or a URL; no server means Docker Hub."""
    text = server.removeprefix("https://").removeprefix("http://").split("/")[0]
    return text or "docker.io"
