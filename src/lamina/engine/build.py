"""BuildService: ``lamina build`` and ``builder prune`` over one Engine; EngineBuildBackend implements
``lamina.build.backend.BuildBackend`` with the storage driver, crun and the image/layer stores.

Fully cached builds take a fast path: the whole build is keyed by the Dockerfile, the flags and a
stat-only manifest of the context (``lamina.build.record``); a matching record whose image and
base images still hold is tagged and its progress replayed, without parsing or hashing anything.

A step's rw layer: ``driver.create(build-<rand>, parent, writable=True)``; the merged view is
mounted only when a step needs it. A COPY or WORKDIR into a directory that does not exist below
writes straight into the overlay upper dir (``EngineRwLayer.new_dir``): no mount, and no unmount,
which on overlayfs syncs the whole upper filesystem. A RUN mounts (overlay with ``volatile``, for
the same reason), writes a bundle (``config.json`` from ``container.ocispec`` with the mounted
rootfs) under ``<run_dir>/build/<id>`` and runs ``crun run`` with stdout+stderr on a pipe streamed
to the progress; by default the step joins the bridge network for its duration, as ``docker
build``'s RUN does (``--network none|host`` as asked). ``commit`` unmounts, computes the changes
once, writes the layer tar at the build epoch through a deterministic gzip into the blob store
and seals the rw layer in place as the read-only layer (``LayerStore.adopt``: nothing is
re-applied). Leaving the step removes the rw
layer, its mount and the bundle whatever happened.

On disk (besides the store): ``<root>/buildcache/cache.db`` (the step cache, lamina.build.cache,
and the build records), ``<root>/buildcache/mounts/<id>`` (RUN --mount=type=cache dirs),
``<root>/buildcache/tmp/`` (contexts received as tars, removed after the build).

Must not print or exit.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lamina._internal.logs import get_logger
from lamina.build.backend import BaseImage, LayerRef, ProcessSpec
from lamina.digest import Digest
from lamina.errors import ContainerCommandError, InternalError, InvalidArgument, LaminaError, NotFound

if TYPE_CHECKING:
    from lamina.build.progress import ProgressEvent
    from lamina.build.record import BuildResult, RecordStore
    from lamina.driver.protocol import Driver
    from lamina.engine.engine import Engine
    from lamina.image.layers import Layer
    from lamina.layer.changes import Change
    from lamina.network.bridge import BridgeNetwork
    from lamina.runtime.crun import CrunRuntime

log = get_logger(__name__)

BUILD_HOSTNAME = "buildkitsandbox"


class EngineRwLayer:
    """One step's writable layer on the real driver (see the module docstring).

    The merged view is mounted on first use of ``rootfs`` only: a COPY or WORKDIR into a new
    directory writes straight into the overlay driver's upper dir (``new_dir``) and never mounts,
    so it also skips the sync of the whole upper filesystem that unmounting a written overlay does.
    """

    def __init__(self, backend: EngineBuildBackend, parent: Layer | None, epoch: int) -> None:
        self.backend = backend
        self.parent = parent
        self.epoch = epoch
        self.layer_id = f"build-{os.urandom(16).hex()}"
        self.driver = backend.engine.driver
        self.driver.create(self.layer_id, parent.layer_id if parent else None, writable=True)
        self.mounted = False
        self.adopted = False
        self._rootfs: Path | None = None
        self._mounter: Driver = self.driver

    @property
    def rootfs(self) -> Path:
        """The writable merged view (mounted now if it is not yet)."""
        if self._rootfs is None:
            self._mounter = self.backend.rw_driver()
            try:
                self._rootfs = self._mounter.mount(self.layer_id)
            except (OSError, LaminaError) as exc:
                if self._mounter is self.driver:
                    raise
                log.info("volatile overlay mount refused, mounting normally layer=%s error=%s", self.layer_id, exc)
                self._mounter = self.backend.no_volatile()
                self._rootfs = self._mounter.mount(self.layer_id)
            self.mounted = True
        return self._rootfs

    def _upper(self) -> Path | None:
        """The overlay driver's upper dir of this layer (docker's GraphDriver ``UpperDir``), else None."""
        if self.driver.name != "overlay":
            return None
        upper = self.driver.metadata(self.layer_id).get("UpperDir")
        return Path(upper) if upper else None

    def new_dir(self, path: str, uid: int, gid: int) -> Path | None:
        """Make the image directory ``path`` in this layer's own files, without mounting; its host path.

        Only when that is exactly what writing through the merged view would do: overlay driver,
        nothing mounted or changed yet, and ``path`` missing from the parent chain with no symlink or
        non-directory on the way. Ancestors that exist below are copied up (mode, owner, xattrs,
        times, as overlayfs does); missing ones are made 0755 ``uid:gid``. None: use ``rootfs``.
        """
        upper = self._upper()
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if upper is None or self.mounted or not parts or ".." in parts or any(os.scandir(upper)):
            return None
        if self.parent is None:
            return _make_below(upper, parts, None, [], uid, gid)
        view = self.driver.mount(self.parent.layer_id)   # read-only: unmounting it syncs nothing
        try:
            found = _existing_dirs(view, parts)
            if found is None or len(found) == len(parts):
                return None
            try:
                return _make_below(upper, parts, view, found, uid, gid)
            except OSError as exc:   # e.g. an xattr this filesystem refuses: let overlayfs do it
                log.info("direct write refused, mounting instead layer=%s error=%s", self.layer_id, exc)
                shutil.rmtree(upper / parts[0], ignore_errors=True)
                return None
        finally:
            self.driver.unmount(self.parent.layer_id)

    def run(self, spec: ProcessSpec, output: Callable[[bytes], None]) -> int:
        """One RUN. Its network is docker build's: the bridge by default, or ``--network none|host``."""
        container_id = self.layer_id
        bundle = self.backend.bundle_root / container_id
        bundle.mkdir(parents=True)
        netns = bundle.with_name(f"{container_id}.netns") if spec.network == "default" else None
        try:
            if netns is not None:
                self.backend.network.attach(container_id, netns, ())
            config = self._runtime_config(spec, bundle, container_id, netns)
            from lamina.spec.canonical import canonical_json
            (bundle / "config.json").write_bytes(canonical_json(config))
            return _stream(lambda fds: self.backend.runtime.run(container_id, bundle, stdio=fds), output)
        finally:
            if netns is not None:
                self.backend.network.detach(container_id, netns, None)
            shutil.rmtree(bundle, ignore_errors=True)

    def _runtime_config(self, spec: ProcessSpec, bundle: Path, container_id: str,
                        netns: Path | None) -> dict[str, Any]:
        from lamina.container import ocispec
        network: ocispec.Network = "host" if spec.network == "host" else "bridge" if netns else "none"
        ocispec.write_etc_files(bundle / "etc", BUILD_HOSTNAME, network)
        mounts = [ocispec.MountSpec(kind="tmpfs", destination=m.target) if m.kind == "tmpfs" else
                  ocispec.MountSpec(kind="bind", destination=m.target, source=str(m.source),
                                    read_only=m.readonly) for m in spec.mounts]
        opts = ocispec.RunOptions(args=spec.args, entrypoint=[], env=spec.env, workdir=spec.cwd,
                                  user=spec.user, hostname=BUILD_HOSTNAME, network=network, mounts=mounts)
        config = ocispec.build_runtime_config({"Env": []}, opts, self.rootfs, container_id=container_id,
                                              etc_files=bundle / "etc", network_ns=str(netns) if netns else None,
                                              seccomp_cache=self.backend.engine.config.run_dir / "seccomp")
        config["mounts"] = [m for m in config["mounts"] if not self._stub_needed(m, spec.network)]
        return config

    def _stub_needed(self, mount: Mapping[str, Any], network: str) -> bool:
        """Skip /etc/hosts and resolv.conf binds whose target is missing: the stub would end up in the layer."""
        dest = str(mount.get("destination", ""))
        if dest not in ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname") or network == "host":
            return False
        return not os.path.lexists(self.rootfs / dest.lstrip("/"))

    def commit(self) -> LayerRef | None:
        from lamina.image.layers import compress_layer_blob
        from lamina.spec import mediatypes as mt
        self._unmount()
        parent_id = self.parent.layer_id if self.parent else None
        changes = self.driver.changes(self.layer_id, parent_id)
        if not changes:
            return None
        engine = self.backend.engine
        # Nothing reads the blob back during the build (the layer is this rw dir, sealed), so it
        # skips the page cache.
        diff_id, info, size = compress_layer_blob(
            engine.blobs, lambda out: self._write_diff(changes, parent_id, out), direct=True)
        layer = self._adopt(diff_id, info.digest, info.size, mt.OCI_LAYER_GZIP, size)
        if layer is None:
            layer = engine.layers.ensure(diff_id, self.parent, info.digest, info.size, mt.OCI_LAYER_GZIP)
        return LayerRef(chain_id=str(layer.chain_id), diff_id=str(layer.diff_id))

    def _write_diff(self, changes: list[Change], parent_id: str | None, out: Any) -> int | None:
        """The layer tar into ``out``; its size when known without another walk.

        Overlay: what ``OverlayDriver.diff`` does natively (the changes of ``diff/`` against the
        parents it was created on), with the changes computed once instead of three times.
        """
        upper = self._upper()
        if upper is None:
            self.driver.diff(self.layer_id, parent_id, out, epoch=self.epoch)
            return None
        from lamina.layer.tarwriter import write_changes
        return write_changes(upper, changes, out, epoch=self.epoch, upper=upper)

    def _adopt(self, diff_id: Digest, blob: Digest, blob_size: int, media_type: str,
               size: int | None) -> Layer | None:
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
        if size is None:
            size = self.driver.diff_size(self.layer_id, parent_id)
        marker.unlink()   # sealed: the driver now mounts it read-only, as a lower
        self.adopted = True
        return layers.adopt(self.layer_id, diff_id, self.parent, size=size, blob_digest=blob, blob_size=blob_size,
                            media_type=media_type)

    def _unmount(self) -> None:
        if self.mounted:
            self._mounter.unmount(self.layer_id)
            self.mounted = False
            self._rootfs = None
            if self._mounter is not self.driver:   # volatile leaves work/work/incompat, which blocks a remount
                work = self.driver.metadata(self.layer_id).get("WorkDir")
                if work:
                    shutil.rmtree(Path(work) / "work", ignore_errors=True)

    def discard(self) -> None:
        try:
            self._unmount()
        finally:
            if not self.adopted:
                self.driver.remove(self.layer_id)


def _volatile_overlay(driver: Driver) -> Driver | None:
    from lamina.driver.overlay import OverlayDriver
    if not isinstance(driver, OverlayDriver) or ("volatile", None) in driver.support.options:
        return None
    from lamina._internal.records import replace
    support = replace(driver.support, options=(*driver.support.options, ("volatile", None)))
    return OverlayDriver(driver.home, support=support, deep=driver.deep, legacy_mount=not driver.new_api)


def _existing_dirs(view: Path, parts: list[str]) -> list[os.stat_result] | None:
    """lstat of the leading components of ``parts`` that exist under ``view``; None if one is not a dir."""
    found: list[os.stat_result] = []
    current = str(view)
    for name in parts:
        current = os.path.join(current, name)
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            break
        if not stat.S_ISDIR(st.st_mode):
            return None
        found.append(st)
    return found


def _make_below(upper: Path, parts: list[str], view: Path | None, found: list[os.stat_result],
                uid: int, gid: int) -> Path:
    current = upper
    for n, name in enumerate(parts):
        current = current / name
        if n < len(found):
            assert view is not None
            _copy_up_dir(view.joinpath(*parts[:n + 1]), current, found[n])
            continue
        current.mkdir(mode=0o755)
        os.chmod(current, 0o755)
        os.lchown(current, uid, gid)
    return current


def _copy_up_dir(src: Path, dst: Path, st: os.stat_result) -> None:
    """What overlayfs's copy-up does to a directory: same mode, owner, xattrs and times."""
    dst.mkdir()
    os.lchown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    for name in os.listxattr(src, follow_symlinks=False):
        if ".overlay." not in name:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


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
        self._rw_driver: Driver | None = None
        self.resolved: dict[str, str] = {}   # base image name -> id, as this build resolved them

    @property
    def runtime(self) -> CrunRuntime:
        if self._runtime is None:
            from lamina.runtime.crun import CrunRuntime
            self._runtime = CrunRuntime(self.engine.config.runtime,
                                        state_root=self.engine.config.run_dir / "build-runtime")
        return self._runtime

    @cached_property
    def network(self) -> BridgeNetwork:
        """The bridge network RUN steps join (docker build's default)."""
        from lamina.network.bridge import BridgeNetwork
        return BridgeNetwork()

    def rw_driver(self) -> Driver:
        """The driver that mounts rw layers: overlay with ``volatile`` when the engine's is overlay.

        Unmounting a written overlay syncs its whole upper filesystem (every dirty page on it, e.g.
        the layer a COPY just wrote); ``volatile`` skips that. A build's rw layer is worthless after
        a crash anyway, and a sealed layer is as durable as one applied from a pulled tar (the store
        syncs neither). Same on-disk layout and mount counts: it is a second view of one driver.
        """
        if self._rw_driver is None:
            self._rw_driver = _volatile_overlay(self.engine.driver) or self.engine.driver
        return self._rw_driver

    def no_volatile(self) -> Driver:
        """Give up on ``volatile`` mounts (the kernel refused one)."""
        self._rw_driver = self.engine.driver
        return self._rw_driver

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

    def stack(self, layer: LayerRef, parent: LayerRef | None) -> LayerRef:
        """*layer* (built on nothing: ``COPY --link``) on top of *parent*, applied from its blob if new."""
        found = self.engine.layers.get(Digest.parse(layer.chain_id))
        if parent is None and found.parent is None:
            return layer
        if found.blob_digest is None:
            raise InternalError(f"linked layer {layer.chain_id} has no blob to stack")
        made = self.engine.layers.ensure(found.diff_id, self._layer(parent), found.blob_digest, found.blob_size,
                                         found.media_type)
        return LayerRef(chain_id=str(made.chain_id), diff_id=str(made.diff_id))

    def scratch_dir(self) -> Path:
        path = self.home / "tmp" / os.urandom(16).hex()
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
        from lamina.build.record import BuildResult, replay
        image = images.get(Digest.parse(record.image_id))
        for tag in names:
            images.tag(image, tag)
        if progress is not None:
            from lamina.build.progress import Progress
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
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm/v7"}.get(os.uname().machine, os.uname().machine)
    return f"linux/{arch}"
