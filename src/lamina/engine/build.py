"""BuildService: ``lamina build`` and ``builder prune`` over one Engine; EngineBuildBackend implements
``lamina.build.backend.BuildBackend`` with the storage driver, crun and the image/layer stores.

A RUN step: ``driver.create(build-<rand>, parent, writable=True)``, mount, write a bundle
(``config.json`` from ``container.ocispec`` with the mounted rootfs) under ``<run_dir>/build/<id>``,
``crun run`` with stdout+stderr on a pipe that is streamed to the progress; ``commit`` unmounts,
writes the layer tar (``driver.diff`` at the build epoch) through a deterministic gzip into the blob
store and registers it (``LayerStore.ensure``). Leaving the step removes the rw layer, its mount and
the bundle whatever happened.

On disk (besides the store): ``<root>/buildcache/cache.db`` (the cache, lamina.build.cache),
``<root>/buildcache/mounts/<id>`` (RUN --mount=type=cache dirs), ``<root>/buildcache/tmp/`` (contexts
received as tars, removed after the build).

Must not print or exit.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lamina.build.backend import BaseImage, LayerRef, ProcessSpec
from lamina.digest import Digest
from lamina.errors import ContainerCommandError, InvalidArgument, LaminaError, NotFound

if TYPE_CHECKING:
    from lamina.build.progress import ProgressEvent
    from lamina.build.record import BuildResult, RecordStore
    from lamina.engine.engine import Engine
    from lamina.image.layers import Layer
    from lamina.runtime.crun import CrunRuntime

log = logging.getLogger(__name__)

BUILD_HOSTNAME = "buildkitsandbox"


class EngineRwLayer:
    """One step's writable layer on the real driver (see the module docstring)."""

    def __init__(self, backend: EngineBuildBackend, parent: Layer | None, epoch: int) -> None:
        self.backend = backend
        self.parent = parent
        self.epoch = epoch
        self.layer_id = f"build-{uuid.uuid4().hex}"
        self.driver = backend.engine.driver
        self.driver.create(self.layer_id, parent.layer_id if parent else None, writable=True)
        self.mounted = False
        self.adopted = False
        self.rootfs = self.driver.mount(self.layer_id)
        self.mounted = True

    def run(self, spec: ProcessSpec, output: Callable[[bytes], None]) -> int:
        container_id = self.layer_id
        bundle = self.backend.bundle_root / container_id
        bundle.mkdir(parents=True)
        try:
            config = self._runtime_config(spec, bundle, container_id)
            from lamina.spec.canonical import canonical_json
            (bundle / "config.json").write_bytes(canonical_json(config))
            return _stream(lambda fds: self.backend.runtime.run(container_id, bundle, stdio=fds), output)
        finally:
            shutil.rmtree(bundle, ignore_errors=True)

    def _runtime_config(self, spec: ProcessSpec, bundle: Path, container_id: str) -> dict[str, Any]:
        from lamina.container import ocispec
        network: ocispec.Network = "host" if spec.network == "host" else "none"
        ocispec.write_etc_files(bundle / "etc", BUILD_HOSTNAME, network)
        mounts = [ocispec.MountSpec(kind="tmpfs", destination=m.target) if m.kind == "tmpfs" else
                  ocispec.MountSpec(kind="bind", destination=m.target, source=str(m.source),
                                    read_only=m.readonly) for m in spec.mounts]
        opts = ocispec.RunOptions(args=spec.args, entrypoint=[], env=spec.env, workdir=spec.cwd,
                                  user=spec.user, hostname=BUILD_HOSTNAME, network=network, mounts=mounts)
        config = ocispec.build_runtime_config({"Env": []}, opts, self.rootfs, container_id=container_id,
                                              etc_files=bundle / "etc")
        config["mounts"] = [m for m in config["mounts"] if not self._stub_needed(m, spec.network)]
        return config

    def _stub_needed(self, mount: Mapping[str, Any], network: str) -> bool:
        """Skip /etc/hosts and resolv.conf binds whose target is missing: the stub would end up in the layer."""
        dest = str(mount.get("destination", ""))
        if dest not in ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname") or network == "host":
            return False
        return not os.path.lexists(self.rootfs / dest.lstrip("/"))

    def commit(self) -> LayerRef | None:
        from lamina.layer.compression import CompressingWriter
        from lamina.spec import mediatypes as mt
        self._unmount()
        parent_id = self.parent.layer_id if self.parent else None
        if not self.driver.changes(self.layer_id, parent_id):
            return None
        engine = self.backend.engine
        with engine.blobs.writer() as out:
            writer = CompressingWriter(out, "gzip")  # type: ignore[arg-type]
            self.driver.diff(self.layer_id, parent_id, writer, epoch=self.epoch)  # type: ignore[arg-type]
            digests = writer.finish()
            info = out.commit()
        layer = self._adopt(digests.diff_id, info.digest, info.size, mt.OCI_LAYER_GZIP)
        if layer is None:
            layer = engine.layers.ensure(digests.diff_id, self.parent, info.digest, info.size, mt.OCI_LAYER_GZIP)
        return LayerRef(chain_id=str(layer.chain_id), diff_id=str(layer.diff_id))

    def _adopt(self, diff_id: Digest, blob: Digest, blob_size: int, media_type: str) -> Layer | None:
        """Register this rw layer's directory as the read-only layer itself (no re-apply of the tar).

        The driver dir already holds exactly what applying the tar would produce (overlay: the same
        upper dir; copy: the same full tree). Returns None when the layer exists already or the
        driver keeps no ``writable`` marker we can drop (then ``LayerStore.ensure`` applies the blob).
        """
        from lamina.image.layers import next_chain_id
        layers = self.backend.engine.layers
        if layers.find(next_chain_id(self.parent, diff_id)) is not None:
            return None
        marker = Path(getattr(self.driver, "root", "/nonexistent"), self.layer_id, "writable")
        if not marker.exists():
            return None
        parent_id = self.parent.layer_id if self.parent else None
        size = self.driver.diff_size(self.layer_id, parent_id)
        marker.unlink()
        self.adopted = True
        record = layers._record  # TODO(#5): a public LayerStore.adopt()
        return record(next_chain_id(self.parent, diff_id), diff_id, self.parent, self.layer_id, size, blob,
                      blob_size, media_type)

    def _unmount(self) -> None:
        if self.mounted:
            self.driver.unmount(self.layer_id)
            self.mounted = False

    def discard(self) -> None:
        try:
            self._unmount()
        finally:
            if not self.adopted:
                self.driver.remove(self.layer_id)


def _stream(run: Callable[[tuple[int, int, int]], int], output: Callable[[bytes], None]) -> int:
    """Run with stdout+stderr on a pipe read here (the process runs in a thread); its exit code."""
    read_fd, write_fd = os.pipe()
    null_fd = os.open(os.devnull, os.O_RDONLY)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["code"] = run((null_fd, write_fd, write_fd))
        except ContainerCommandError as exc:
            os.write(write_fd, f"{exc}\n".encode())
            result["code"] = exc.exit_code
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc
        finally:
            os.close(write_fd)

    thread = threading.Thread(target=target, name="build-run", daemon=True)
    thread.start()
    try:
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                output(chunk)
    finally:
        thread.join()
        os.close(null_fd)
    if "error" in result:
        raise result["error"]
    return int(result["code"])


class EngineBuildBackend:
    """BuildBackend over an open Engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.home = engine.root / "buildcache"
        self.bundle_root = engine.config.run_dir / "build"
        self._runtime: CrunRuntime | None = None
        self.resolved: dict[str, str] = {}   # base image name -> id, as this build resolved them

    @property
    def runtime(self) -> CrunRuntime:
        if self._runtime is None:
            from lamina.runtime.crun import CrunRuntime
            self._runtime = CrunRuntime(self.engine.config.runtime,
                                        state_root=self.engine.config.run_dir / "build-runtime")
        return self._runtime

    def _layer(self, ref: LayerRef | None) -> Layer | None:
        return None if ref is None else self.engine.layers.get(Digest.parse(ref.chain_id))

    def base_image(self, name: str) -> BaseImage:
        store = self.engine.image_store
        image = store.resolve(name)
        self.resolved[name] = str(image.id)
        layers = tuple(LayerRef(chain_id=str(x.chain_id), diff_id=str(x.diff_id)) for x in store.layer_stack(image))
        return BaseImage(image_id=str(image.id), config=store.config(image), layers=layers)

    def image_exists(self, image_id: str) -> bool:
        return self.engine.db.one("SELECT 1 FROM images WHERE id = ?", (image_id,)) is not None

    def layer_exists(self, layer: LayerRef) -> bool:
        return self.engine.layers.find(Digest.parse(layer.chain_id)) is not None

    @contextlib.contextmanager
    def open_layer(self, parent: LayerRef | None, *, epoch: int) -> Iterator[EngineRwLayer]:
        rw = EngineRwLayer(self, self._layer(parent), epoch)
        try:
            yield rw
        finally:
            rw.discard()

    @contextlib.contextmanager
    def view(self, layer: LayerRef | None) -> Iterator[Path]:
        found = self._layer(layer)
        if found is None:
            empty = self.scratch_dir()
            try:
                yield empty
            finally:
                shutil.rmtree(empty, ignore_errors=True)
            return
        driver = self.engine.driver
        path = driver.mount(found.layer_id)
        try:
            yield path
        finally:
            driver.unmount(found.layer_id)

    def scratch_dir(self) -> Path:
        path = self.home / "tmp" / uuid.uuid4().hex
        path.mkdir(parents=True)
        return path

    def cache_mount_dir(self, cache_id: str) -> Path:
        path = self.home / "mounts" / hashlib.sha256(cache_id.encode()).hexdigest()[:32]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def store_image(self, config_bytes: bytes, layers: Sequence[LayerRef], tags: Sequence[str]) -> str:
        found = [self.engine.layers.get(Digest.parse(ref.chain_id)) for ref in layers]
        return str(self.engine.image_store.add(config_bytes, found, tags=tags).id)


class BuildService:
    """``engine.build``: run builds and prune the build cache."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.backend = EngineBuildBackend(engine)
        self._records: RecordStore | None = None

    def cache_store(self) -> Any:
        from lamina.build.cache import CacheStore
        return CacheStore(self.backend.home / "cache.db")

    def record_store(self) -> RecordStore:
        if self._records is None:
            from lamina.build.record import RecordStore
            self._records = RecordStore(self.backend.home / "cache.db")
        return self._records

    def build(self, *, context: Path | None = None, context_tar: IO[bytes] | None = None,
              dockerfile: str | None = None, dockerfile_path: Path | None = None,
              tags: Sequence[str] = (), build_args: Mapping[str, str | None] | None = None,
              target: str | None = None, no_cache: bool = False, labels: Mapping[str, str] | None = None,
              network: str = "default", cache_explain: bool = False,
              progress: Callable[[ProgressEvent], None] | None = None) -> BuildResult:
        """Build from a context directory (or tar stream) and store/tag the image.

        A build whose record (``lamina.build.record``) still matches is not run again: its image is
        tagged and its progress replayed. Raises DockerfileError (bad Dockerfile), BuildFailed (a
        step failed), ImageNotFound (base), InvalidArgument (bad flags). On error nothing is tagged
        and no rw layer is left behind.
        """
        from lamina.reference import Reference
        if network not in ("default", "none", "host"):
            raise InvalidArgument(f"build: network mode {network!r} not supported (use default, none or host)")
        names = tuple(str(Reference.parse(t)) for t in tags)
        flags = {"build_args": sorted((k, v) for k, v in (build_args or {}).items()), "target": target,
                 "labels": sorted((labels or {}).items()), "network": network,
                 "epoch": self.engine.config.source_date_epoch, "platform": host_platform()}
        try:
            with self._context(context, context_tar) as root:
                return self._build_in(root, dockerfile, dockerfile_path, names, flags, no_cache=no_cache,
                                      cached_path=context_tar is None, cache_explain=cache_explain,
                                      progress=progress)
        finally:
            if self._records is not None:
                self._records.close()

    def _build_in(self, root: Path | None, dockerfile: str | None, dockerfile_path: Path | None,
                  names: tuple[str, ...], flags: Mapping[str, Any], *, no_cache: bool, cached_path: bool,
                  cache_explain: bool, progress: Callable[[ProgressEvent], None] | None) -> BuildResult:
        text, name, df_path = self._dockerfile(root, dockerfile, dockerfile_path)
        key = None
        if cached_path and not no_cache:
            from lamina.build.record import build_key, context_manifest
            manifest = context_manifest(root, df_path) if root is not None else ""
            key = build_key(dockerfile=text, dockerfile_name=name, context=manifest, flags=flags)
            done = self._replay(key, names, progress)
            if done is not None:
                return done
        return self._run(key, text, name, self._tree(root, df_path), names, flags, no_cache=no_cache,
                         cache_explain=cache_explain, progress=progress)

    def _run(self, key: str | None, text: str, name: str, tree: Any, names: tuple[str, ...],
             flags: Mapping[str, Any], *, no_cache: bool, cache_explain: bool,
             progress: Callable[[ProgressEvent], None] | None) -> BuildResult:
        """The step-by-step build; a successful one leaves a record under ``key``."""
        from lamina.build.builder import Builder, BuildRequest
        from lamina.build.progress import Progress
        from lamina.build.record import Recorder
        request = BuildRequest(
            dockerfile=text, dockerfile_name=name, context=tree, tags=names,
            build_args=dict(flags["build_args"]), target=flags["target"], no_cache=no_cache,
            labels=dict(flags["labels"]), network=flags["network"], cache_explain=cache_explain,
            epoch=flags["epoch"], platform=flags["platform"])
        recorder = Recorder(progress)
        self.backend.resolved = {}
        cache = self.cache_store()
        try:
            builder = Builder(self.backend, cache=cache, progress=Progress(recorder))
            result = builder.build(request)
            if key is not None:
                self.record_store().save(key, recorder.record(result.image_id, self.backend.resolved,
                                                              builder.step_vertices))
            return result
        finally:
            cache.close()

    def _replay(self, key: str, names: tuple[str, ...],
                progress: Callable[[ProgressEvent], None] | None) -> BuildResult | None:
        """The fast path: tag the recorded image and replay its progress, if the record still holds."""
        store = self.record_store()
        record = store.lookup(key)
        if record is None or not self.backend.image_exists(record.image_id):
            return None
        images = self.engine.image_store
        for base, image_id in record.bases:
            try:
                if str(images.resolve(base).id) != image_id:
                    return None
            except LaminaError:
                return None
        from lamina.build.progress import Progress
        from lamina.build.record import BuildResult, replay
        image = images.get(Digest.parse(record.image_id))
        for tag in names:
            images.tag(image, tag)
        replay(record, Progress(progress), names)
        return BuildResult(image_id=record.image_id, tags=names, cached=record.steps, built=0,
                           warnings=record.warnings)

    @contextlib.contextmanager
    def _context(self, context: Path | None, stream: IO[bytes] | None) -> Iterator[Path | None]:
        if stream is None:
            yield context
            return
        from lamina.build.context import SourceTree
        tmp = self.backend.scratch_dir()
        try:
            yield SourceTree.from_tar(stream, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _dockerfile(self, root: Path | None, text: str | None, path: Path | None) -> tuple[str, str, Path | None]:
        if text is not None:
            return text, path.name if path else "Dockerfile", None
        if path is None:
            if root is None:
                raise InvalidArgument("build: no Dockerfile and no context")
            path = root / "Dockerfile"
        elif root is not None and not path.is_absolute() and not path.exists():
            path = root / path
        try:
            return path.read_text(encoding="utf-8"), path.name, path
        except FileNotFoundError:
            raise InvalidArgument(f"build: read Dockerfile {path}: no such file") from None

    def _tree(self, root: Path | None, dockerfile: Path | None) -> Any:
        if root is None:
            return None
        from lamina.build.context import SourceTree
        return SourceTree.context(root, dockerfile)

    def prune(self) -> int:
        """Forget the build cache, release the layers only it held, clear cache mounts; bytes freed."""
        cache = self.cache_store()
        try:
            chains = cache.chain_ids()
            cache.clear()
        finally:
            cache.close()
        freed = self._release_layers(chains)
        mounts = self.backend.home / "mounts"
        freed += _tree_size(mounts)
        shutil.rmtree(mounts, ignore_errors=True)
        shutil.rmtree(self.backend.home / "tmp", ignore_errors=True)
        self._remove_stale_rw_layers()
        return freed

    def _release_layers(self, chains: list[str]) -> int:
        layers = self.engine.layers
        freed = 0
        pending = {Digest.parse(c) for c in chains}
        while pending:
            progress = False
            for chain in sorted(pending, key=str):
                if layers.find(chain) is None or layers.references(chain) > 0:
                    continue
                for gone in layers.release(chain):
                    freed += gone.size + self._drop_blob(gone.blob_digest)
                    pending.discard(gone.chain_id)
                progress = True
            pending = {c for c in pending if layers.find(c) is not None and layers.references(c) == 0}
            if not progress:
                break
        return freed

    def _drop_blob(self, digest: Digest | None) -> int:
        if digest is None or self.engine.image_store.blob_referenced(str(digest)):
            return 0
        try:
            size = self.engine.blobs.stat(digest)
        except NotFound:  # already gone: frees nothing
            return 0
        self.engine.blobs.delete(digest)
        return size

    def _remove_stale_rw_layers(self) -> None:
        driver = self.engine.driver
        listing = getattr(driver, "layers", None)
        for layer_id in (listing() if callable(listing) else []):
            kept = self.engine.db.one("SELECT 1 FROM layers WHERE layer_id = ?", (str(layer_id),))
            if str(layer_id).startswith("build-") and kept is None:
                driver.remove(str(layer_id))


def _tree_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def host_platform() -> str:
    import platform as _platform
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm/v7"}.get(_platform.machine(), _platform.machine())
    return f"linux/{arch}"
