"""ImageService: the image use cases the CLI calls (import, list, history, inspect, tag, remove).

Must not print or exit; returns plain data the CLI renders. Spans the layer engine, the
blob store and the image store, which is why it lives in ``engine``.
"""

from __future__ import annotations

import builtins
import json
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lamina.reference import Reference
from lamina.spec import mediatypes as mt

if TYPE_CHECKING:
    from lamina.engine.engine import Engine
    from lamina.image.layers import Layer
    from lamina.image.store import Image, ImageStore
    from lamina.layer.compression import Compression

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryRow:
    """One row of ``history``: the image id only on the top row (``<missing>`` elsewhere, as BuildKit)."""

    image_id: str | None
    created: str | None
    created_by: str
    size: int
    comment: str
    empty_layer: bool


class ImageService:
    """Image use cases over one open Engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def store(self) -> ImageStore:
        return self.engine.image_store

    # ------------------------------------------------------------ creating
    def store_layer(self, tar_stream: BinaryIO, parent: Layer | None = None, *,
                    compression: Compression = "gzip") -> Layer:
        """Compress an uncompressed layer tar into the blob store and register it on *parent*."""
        from lamina.layer.compression import CompressingWriter
        blobs = self.engine.blobs
        with blobs.writer() as out:
            writer = CompressingWriter(out, compression)  # type: ignore[arg-type]  # BlobWriter is file-like
            shutil.copyfileobj(tar_stream, writer, 1 << 20)
            digests = writer.finish()
            info = out.commit()
        media = {"gzip": mt.OCI_LAYER_GZIP, "zstd": mt.OCI_LAYER_ZSTD}.get(compression, mt.OCI_LAYER)
        try:
            return self.engine.layers.ensure(digests.diff_id, parent, info.digest, info.size, media)
        except BaseException:  # a tar the layer engine refused: its blob must not stay behind
            if not self.store.blob_referenced(str(info.digest)):
                blobs.delete(info.digest)
            raise

    def import_tarball(self, source: BinaryIO, *, source_name: str, reference: str | None = None,
                       changes: Sequence[str] = (), message: str | None = None) -> Image:
        """``lamina import``: a rootfs tar (plain, gzip or zstd) becomes a one-layer image."""
        from lamina.image import mutate
        from lamina.layer.compression import open_decompressed
        from lamina.spec.canonical import canonical_json
        tags = [str(Reference.parse(reference))] if reference else []
        mutate.apply_changes({}, changes)  # validate before any work: bad input leaves nothing behind
        layer = self.store_layer(open_decompressed(source))
        created = mutate.timestamp(self.engine.source_date_epoch)
        config = mutate.empty_config(created)
        config = mutate.append_layer(config, layer.diff_id, created=created,
                                     created_by=f"lamina import {source_name}", comment=message)
        config = mutate.apply_changes(config, changes)
        return self.store.add(canonical_json(config), [layer], tags=tags)

    # ------------------------------------------------------------ reading
    def resolve(self, name: str) -> Image:
        return self.store.resolve(name)

    def list(self, *, all_images: bool = False, dangling: bool | None = None) -> builtins.list[Image]:
        images: builtins.list[Image] = self.store.list()
        if dangling is not None:
            images = [i for i in images if (not i.tags) == dangling]
        return images

    def history(self, name: str) -> builtins.list[HistoryRow]:
        image = self.resolve(name)
        config = self.store.config(image)
        layers = self.store.layer_stack(image)
        sizes = iter(layer.size for layer in layers)
        rows = []
        for entry in config.get("history", []):
            empty = bool(entry.get("empty_layer"))
            rows.append(HistoryRow(image_id=None, created=entry.get("created"),
                                   created_by=entry.get("created_by", ""),
                                   size=0 if empty else next(sizes, 0),
                                   comment=entry.get("comment", ""), empty_layer=empty))
        rows.reverse()
        if rows:
            top = rows[0]
            rows[0] = HistoryRow(image_id=str(image.id), created=top.created, created_by=top.created_by,
                                 size=top.size, comment=top.comment, empty_layer=top.empty_layer)
        return rows

    def inspect(self, name: str) -> dict[str, Any]:
        """docker's ``image inspect`` JSON shape."""
        image = self.resolve(name)
        config = self.store.config(image)
        layers = self.store.layer_stack(image)
        return {
            "Id": str(image.id),
            "RepoTags": [Reference.parse(t).familiar() for t in image.tags],
            "RepoDigests": [Reference.parse(d).familiar() for d in image.repo_digests],
            "Parent": "",
            "Comment": _last_comment(config),
            "Created": config.get("created", ""),
            "DockerVersion": "",
            "Author": config.get("author", ""),
            "Config": config.get("config", {}),
            "Architecture": config.get("architecture", ""),
            **({"Variant": config["variant"]} if config.get("variant") else {}),
            "Os": config.get("os", ""),
            "Size": image.size,
            "GraphDriver": self.graph_driver(layers),
            "RootFS": {"Type": config.get("rootfs", {}).get("type", "layers"),
                       "Layers": config.get("rootfs", {}).get("diff_ids", [])},
            "Metadata": {"LastTagTime": ""},
            "Descriptor": {"mediaType": image.manifest_media_type, "digest": str(image.manifest_digest),
                           "size": self.engine.blobs.stat(image.manifest_digest)},
        }

    def graph_driver(self, layers: Sequence[Layer]) -> dict[str, Any]:
        if not layers:
            return {"Name": self.engine.driver_name(), "Data": None}
        driver = self.engine.driver
        return {"Name": driver.name, "Data": driver.metadata(layers[-1].layer_id)}

    # ------------------------------------------------------------ naming and removal
    def tag(self, source: str, target: str) -> str:
        return self.store.tag(self.resolve(source), target)

    def remove(self, name: str, *, force: bool = False,
               in_use: Callable[[Image], str | None] | None = None) -> builtins.list[str]:
        return self.store.remove(name, force=force, in_use=in_use or (lambda _: None))

    # ------------------------------------------------------------ archives
    def save(self, names: Sequence[str], out: BinaryIO | Path, *, fmt: str = "docker-archive") -> None:
        """Write images to a docker-archive or oci-archive stream, or an OCI layout directory (*out* a Path)."""
        from lamina.image import archive
        items = [archive.SaveItem(self.resolve(n), self._save_names(n)) for n in names]
        if isinstance(out, Path):
            out.mkdir(parents=True, exist_ok=True)
            archive.save(self.store, items, archive.DirSink(out), docker=False)
            return
        sink = archive.TarSink(out)
        archive.save(self.store, items, sink, docker=(fmt == "docker-archive"))
        sink.close()

    def _save_names(self, name: str) -> tuple[str, ...]:
        from lamina.image.store import looks_like_id
        if looks_like_id(name):
            return ()
        ref = Reference.parse(name)
        return () if ref.digest is not None else (str(ref),)

    def load(self, source: BinaryIO | Path) -> builtins.list[tuple[Image, tuple[str, ...]]]:
        from lamina.image import archive
        return [(item.image, item.names) for item in archive.load(self.store, source)]

    def config_json(self, image: Image) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.store.config_bytes(image))
        return data


def _last_comment(config: dict[str, Any]) -> str:
    history = config.get("history") or []
    return str(history[-1].get("comment", "")) if history else ""

