"""ImageService: the image use cases the CLI calls (import, list, history, inspect, tag, remove).

Must not print or exit; returns plain data the CLI renders. Spans the layer engine, the
blob store and the image store, which is why it lives in ``engine``.
"""

from __future__ import annotations

import builtins
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from lamina._internal.logs import get_logger
from lamina._internal.records import Record, record
from lamina.reference import Reference, looks_like_id
from lamina.spec import mediatypes as mt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from lamina.digest import Digest
    from lamina.engine.engine import Engine
    from lamina.image.layers import Layer
    from lamina.image.store import Image, ImageStore
    from lamina.layer.compression import Compression
    from lamina.store.blobs import BlobInfo

log = get_logger(__name__)


@record
class HistoryRow(Record):
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
        from lamina.image.layers import compress_layer_blob
        blobs = self.engine.blobs
        diff_id, info, _ = compress_layer_blob(
            blobs, lambda out: _copy(tar_stream, out), compression)
        media = {"gzip": mt.OCI_LAYER_GZIP, "zstd": mt.OCI_LAYER_ZSTD}.get(compression, mt.OCI_LAYER)
        try:
            return self.engine.layers.ensure(diff_id, parent, info.digest, info.size, media)
        except BaseException:  # a tar the layer engine refused: its blob must not stay behind
            if not self.store.blob_referenced(str(info.digest)):
                blobs.delete(info.digest)
            raise

    def store_written_layer(self, write_tar: Callable[[BinaryIO], object], parent: Layer | None) -> Layer:
        """Store the uncompressed layer tar that *write_tar* writes, in one pass over its bytes.

        The tar is gzipped into the blob store and, through a pipe, applied by the driver into a new
        layer directory at the same time; the directory is then adopted, so the blob is never re-read,
        decompressed or re-hashed. Same blob and diffID as ``store_layer`` on the same tar.
        """
        driver = self.engine.driver
        layer_id = os.urandom(16).hex()
        parent_id = parent.layer_id if parent else None
        driver.create(layer_id, parent_id)
        try:
            diff_id, size, info = self._write_and_apply(
                write_tar, lambda stream: driver.apply_diff(layer_id, parent_id, stream))
        except BaseException:
            driver.remove(layer_id)
            raise
        try:
            return self.engine.layers.adopt(layer_id, diff_id, parent, size=size, blob_digest=info.digest,
                                            blob_size=info.size, media_type=mt.OCI_LAYER_GZIP)
        except BaseException:
            if driver.exists(layer_id):
                driver.remove(layer_id)
            if not self.store.blob_referenced(str(info.digest)):
                self.engine.blobs.delete(info.digest)
            raise

    def _write_and_apply(self, write_tar: Callable[[BinaryIO], object],
                         apply: Callable[[BinaryIO], int]) -> tuple[Digest, int, BlobInfo]:
        """(diffID, applied size, blob) of the tar *write_tar* writes, gzipped and *apply*-ed at once."""
        from typing import cast

        from lamina.image.layers import compress_layer_blob

        def write(out: BinaryIO) -> int:
            with _ApplyTee(out, apply) as tee:
                write_tar(cast("BinaryIO", tee))
                return tee.finish()
        diff_id, info, size = compress_layer_blob(self.engine.blobs, write)
        return diff_id, size, info

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
        image = self.store.add(canonical_json(config), [layer], tags=tags)
        self.event("import", str(image.id), name=reference or "")
        return image

    def event(self, action: str, image_id: str, **attributes: str) -> None:
        """Record an image event (``lamina events``)."""
        from lamina._internal.events import emit
        emit(self.engine.root, "image", action, image_id, attributes)

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
        image = self.resolve(source)
        tagged = self.store.tag(image, target)
        self.event("tag", str(image.id), name=tagged)
        return tagged

    def remove(self, name: str, *, force: bool = False,
               in_use: Callable[[Image], str | None] | None = None) -> builtins.list[str]:
        events = self.store.remove(name, force=force, in_use=in_use or (lambda _: None))
        for line in events:   # "Untagged: name" and "Deleted: sha256:…", as docker reports them
            kind, _, what = line.partition(": ")
            self.event("untag" if kind == "Untagged" else "delete", what if kind != "Untagged" else "", name=what)
        return events

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
        for item in items:
            self.event("save", str(item.image.id), name=",".join(item.names))

    def _save_names(self, name: str) -> tuple[str, ...]:
        if looks_like_id(name):
            return ()
        ref = Reference.parse(name)
        return () if ref.digest is not None else (str(ref),)

    def load(self, source: BinaryIO | Path) -> builtins.list[tuple[Image, tuple[str, ...]]]:
        from lamina.image import archive
        loaded = [(item.image, item.names) for item in archive.load(self.store, source)]
        for image, names in loaded:
            self.event("load", str(image.id), name=",".join(names))
        return loaded

    def config_json(self, image: Image) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.store.config_bytes(image))
        return data


def _last_comment(config: dict[str, Any]) -> str:
    history = config.get("history") or []
    return str(history[-1].get("comment", "")) if history else ""



class _ApplyTee:
    """File-like sink: every write goes to *target* and, through a pipe, to *apply* on a thread.

    ``finish()`` ends the stream and returns what *apply* returned, re-raising its error. The
    thread always reads the pipe to its end, so a failed apply never blocks the writer.
    """

    def __init__(self, target: BinaryIO, apply: Callable[[BinaryIO], int]) -> None:
        import fcntl
        import threading
        self._target = target
        read_fd, self._fd = os.pipe2(os.O_CLOEXEC)
        try:
            fcntl.fcntl(self._fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        except OSError:  # above /proc/sys/fs/pipe-max-size: the default size only costs wake-ups
            pass
        self._size = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(read_fd, apply), name="layer-apply",
                                        daemon=True)
        self._thread.start()

    def _run(self, read_fd: int, apply: Callable[[BinaryIO], int]) -> None:
        with open(read_fd, "rb", buffering=_PIPE_SIZE) as stream:
            try:
                self._size = apply(stream)
            except BaseException as exc:  # handed to the writer's thread by finish()
                self._error = exc
            while stream.read(_PIPE_SIZE):
                pass

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        rest = view
        while rest:
            rest = rest[os.write(self._fd, rest):]
        self._target.write(view)
        return len(view)

    def flush(self) -> None:
        """Writes go straight to the pipe and the target; nothing is buffered here."""

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._thread.join()

    def finish(self) -> int:
        """End the stream, wait for the apply and return its result (its error is raised here)."""
        self._close()
        if self._error is not None:
            raise self._error
        return self._size

    def __enter__(self) -> _ApplyTee:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()


_PIPE_SIZE = 1 << 20


def _copy(source: BinaryIO, target: BinaryIO) -> None:
    import shutil
    shutil.copyfileobj(source, target, 1 << 20)
