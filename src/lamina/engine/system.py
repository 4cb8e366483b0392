"""SystemService: disk usage that adds up, fsck/repair, prune + blob GC, analysis, and start-up recovery.

Must not print or exit; returns values the CLI renders. Spans images, layers, blobs, the driver,
containers and volumes, which is why it lives in ``engine``.

Sizes (``df``). A layer's size is the regular-file bytes of its tar (``layers.size``, what the
driver applied; docker's uncompressed DiffSize). An image's SIZE is the sum over its stack;
SHARED SIZE sums its layers that another image also uses (by ChainID); UNIQUE = SIZE - SHARED.
The Images total counts every layer used by an image once, so Σ UNIQUE + Σ distinct shared layers
= total. RECLAIMABLE is the bytes of layers no container's image uses (docker only subtracts the
unique part of in-use images; lamina subtracts every layer an in-use image needs).

Check (``check``). Every stored blob is re-hashed. Each layer row is checked against what it
claims: its compressed blob is streamed (digest verified at EOF) while the uncompressed stream
is hashed and must equal the diffID; the same pass compares every tar entry with the driver's
merged view of the layer (type, size, sha256 of content, mode, owner when root, link target;
whiteout victims must be absent), and every path the driver reports as changed must be
explained by the tar. This sidesteps tar byte-determinism (mtimes, header order, PAX records):
the driver's tar would not hash to the diffID, but the blob's tar does, and the driver's files
must equal the blob's entries. Layers with no blob are checked for presence only. Then:
references (image_layers vs layers, the config's diff_ids vs the stack, tags and repo digests
pointing at missing images, blobs referenced but missing), orphans (layer rows nothing holds,
driver directories with no row, blobs nothing references, staging and trash leftovers), and
container records (image, rw and init layers, volumes). ``repair`` removes damaged images
(their names are reported: pull or load them again), damaged layers and everything orphaned.

Start-up recovery (``Session``). Every Engine holds a shared flock on ``sessions/.gate`` and
an exclusively locked marker file ``sessions/<pid>-<rand>``, removed by ``close``. Opening an
Engine first tries the gate exclusively without waiting; only if that succeeds (no other live
lamina process) and a marker of a dead process is left (a crash) does it run ``recover``,
which removes orphans, and (as only a dead process can own them then) a killed build's RUN
bundle and crun state and read-only layers left mounted; ``check`` reports those two as
``build-leftover`` and ``mount-stale`` when no other session is alive. The hot path is one
flock, one listdir and one file create. When other sessions are alive, ``repair`` and prune leave orphans younger than
``GRACE_SECONDS`` alone: they may be another process's work in progress.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lamina._internal.logs import get_logger

if TYPE_CHECKING:
    from lamina.container.model import ContainerState
    from lamina.digest import Digest
    from lamina.driver.protocol import Driver
    from lamina.engine.engine import Engine
    from lamina.image.analyze import Analysis, LayerInfo, Member, Provenance
    from lamina.image.compare import PathDiff
    from lamina.image.layers import Layer
    from lamina.image.store import Image

from lamina.engine.session import Session, _locked_by_other  # noqa: F401 - re-exported

log = get_logger(__name__)

GRACE_SECONDS = 600.0
_DRIVER_DIRS = frozenset({"l", "empty", "n", "flat"})


# ====================================================================== values
@dataclass(frozen=True, slots=True, kw_only=True)
class ImageUsage:
    """One image in ``system df -v``."""

    image: Image
    size: int
    shared: int
    containers: int

    @property
    def unique(self) -> int:
        return self.size - self.shared


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerUsage:
    """One container in ``system df -v``: SIZE is the rw layer (docker's SizeRw)."""

    id: str
    name: str
    image: str
    command: str
    created: str
    status: str
    running: bool
    size: int
    volumes: int
    state: ContainerState | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeUsage:
    name: str
    links: int
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildCacheUsage:
    """The build cache row; ``source`` says where the figures came from."""

    count: int = 0
    active: int = 0
    size: int = 0
    reclaimable: int = 0
    source: str = "none"
    entries: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskUsage:
    """Everything ``system df`` shows; the image totals count each layer once."""

    images: tuple[ImageUsage, ...]
    images_total: int
    images_shared: int
    images_reclaimable: int
    containers: tuple[ContainerUsage, ...]
    volumes: tuple[VolumeUsage, ...]
    build_cache: BuildCacheUsage

    @property
    def active_images(self) -> int:
        return sum(1 for i in self.images if i.containers)


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One finding of ``check``: ``damage`` (data broken) or an orphan (garbage), and its fix."""

    kind: str
    subject: str
    detail: str
    damage: bool
    images: tuple[str, ...] = ()   # image ids this damage takes down
    young: bool = False            # an orphan that may be another live process's work in progress


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport:
    problems: tuple[Problem, ...]
    counts: dict[str, int]
    repaired: tuple[str, ...] = ()
    reload: tuple[str, ...] = ()         # names of removed images to pull or load again
    unrepaired: tuple[Problem, ...] = ()

    @property
    def damaged(self) -> bool:
        return any(p.damage for p in self.problems)

    @property
    def clean(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneFilter:
    """docker's prune filters: ``until`` (created before this Unix time) and ``label``/``label!``
    (each a key, a value or None for any, and whether it is negated). None of them: everything."""

    until: float | None = None
    labels: tuple[tuple[str, str | None, bool], ...] = ()

    def matches(self, created: str | float | None, labels: Mapping[str, str] | None) -> bool:
        if self.until is not None:
            when = _instant(created)
            if when is None or when >= self.until:
                return False
        have = labels or {}
        return all((key in have and (value is None or have[key] == value)) != negated
                   for key, value, negated in self.labels)


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneReport:
    """What a prune removed, in docker's sections, and the bytes freed on disk."""

    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    images: tuple[str, ...] = ()         # "untagged: …" / "deleted: …" lines
    build_cache: tuple[str, ...] = ()
    blobs: tuple[str, ...] = ()
    reclaimed: int = 0
    notes: tuple[str, ...] = ()

    def __add__(self, other: PruneReport) -> PruneReport:
        return PruneReport(containers=self.containers + other.containers, networks=self.networks + other.networks,
                           volumes=self.volumes + other.volumes,
                           images=self.images + other.images, build_cache=self.build_cache + other.build_cache,
                           blobs=self.blobs + other.blobs, reclaimed=self.reclaimed + other.reclaimed,
                           notes=self.notes + other.notes)


@dataclass(slots=True)
class _Findings:
    """Mutable accumulator while checking."""

    problems: list[Problem] = field(default_factory=list)
    verified: set[str] = field(default_factory=set)
    corrupt: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, subject: str, detail: str, *, damage: bool, images: Sequence[str] = (),
            young: bool = False) -> None:
        self.problems.append(Problem(kind=kind, subject=subject, detail=detail, damage=damage,
                                     images=tuple(images), young=young))


# ====================================================================== the service
class SystemService:
    """df, check/repair, prune, recovery, analysis and image diff over one open Engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ shared lookups
    @property
    def _db_rows(self) -> Any:
        return self.engine.db

    def _image_stacks(self) -> dict[str, list[str]]:
        """image id → chain ids bottom first."""
        stacks: dict[str, list[str]] = {}
        for row in self.engine.db.query("SELECT image_id, chain_id FROM image_layers ORDER BY image_id, position"):
            stacks.setdefault(row[0], []).append(row[1])
        return stacks

    def _layer_sizes(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self.engine.db.query("SELECT chain_id, size FROM layers")}

    def _has_containers(self) -> bool:
        return (self.engine.root / "containers").is_dir()

    def _container_images(self) -> dict[str, int]:
        """image id → number of containers created from it."""
        if not self._has_containers():
            return {}
        counts: dict[str, int] = {}
        for container in self.engine.containers.store.list():
            counts[container.image_id] = counts.get(container.image_id, 0) + 1
        return counts

    def _cache_chains(self) -> set[str]:
        """ChainIDs the build cache holds (its layers are not orphans)."""
        path = self.engine.root / "buildcache" / "cache.db"
        if not path.exists():
            return set()
        try:
            from lamina.build.cache import CacheStore
            store = CacheStore(path)
            try:
                return {c for c in store.chain_ids() if c}
            finally:
                store.close()
        except Exception:  # a builder-owned file we only read; never let it break df or check
            log.warning("read build cache %s failed", path, exc_info=True)
            return set()

    def _others_alive(self) -> bool:
        session = getattr(self.engine, "_session", None)
        return bool(session is not None and session.others_alive())

    # ------------------------------------------------------------------ df
    def df(self, *, container_sizes: bool = True) -> DiskUsage:
        """Disk usage by images, containers, local volumes and the build cache."""
        images = self.engine.image_store.list()
        stacks = self._image_stacks()
        sizes = self._layer_sizes()
        users = self._container_images()
        refs: dict[str, int] = {}
        for chains in stacks.values():
            for chain in set(chains):
                refs[chain] = refs.get(chain, 0) + 1
        usage = tuple(self._image_usage(i, stacks.get(str(i.id), []), sizes, refs, users) for i in images)
        active_layers = {c for i in images if users.get(str(i.id)) for c in stacks.get(str(i.id), [])}
        total = sum(sizes.get(c, 0) for c in refs)
        return DiskUsage(
            images=usage, images_total=total,
            images_shared=sum(sizes.get(c, 0) for c, n in refs.items() if n > 1),
            images_reclaimable=total - sum(sizes.get(c, 0) for c in active_layers),
            containers=self._container_usage() if container_sizes else (),
            volumes=self._volume_usage(), build_cache=self.build_cache_usage(set(refs)))

    @staticmethod
    def _image_usage(image: Image, chains: list[str], sizes: dict[str, int], refs: dict[str, int],
                     users: dict[str, int]) -> ImageUsage:
        size = sum(sizes.get(c, 0) for c in chains)
        shared = sum(sizes.get(c, 0) for c in chains if refs.get(c, 0) > 1)
        return ImageUsage(image=image, size=size, shared=shared, containers=users.get(str(image.id), 0))

    def _container_usage(self) -> tuple[ContainerUsage, ...]:
        if not self._has_containers():
            return ()
        service = self.engine.containers
        out = []
        for container, state in service.list():
            try:
                size = service.size(container)
            except Exception:  # a container whose layer is broken still shows (check reports it)
                log.warning("size of container %s failed", container.id, exc_info=True)
                size = 0
            out.append(ContainerUsage(
                id=container.id, name=container.name, image=container.image_name, command=container.command,
                created=container.created, status=state.status.value, running=state.running, size=size,
                volumes=sum(1 for m in container.mounts if m.type == "volume"), state=state))
        return tuple(out)

    def _volume_users(self) -> dict[str, list[str]]:
        return self.engine.containers.volume_users() if self._has_containers() else {}

    def _volume_usage(self) -> tuple[VolumeUsage, ...]:
        if not (self.engine.root / "volumes").is_dir():
            return ()
        from lamina.container.volumes import tree_size
        users = self._volume_users()
        return tuple(VolumeUsage(name=v.name, links=len(users.get(v.name, [])), size=tree_size(v.mountpoint))
                     for v in self.engine.volumes.list())

    def build_cache_usage(self, image_chains: set[str] | None = None) -> BuildCacheUsage:
        """The builder's figures when it exposes ``lamina.engine.build.cache_usage``; else layers only the
        build cache holds (size = their bytes, all reclaimable)."""
        hook = _builder_hook("cache_usage")
        if hook is not None:
            result = hook(self.engine)
            if isinstance(result, BuildCacheUsage):
                return result
        chains = self._cache_chains()
        if image_chains is None:
            image_chains = {c for chains_ in self._image_stacks().values() for c in chains_}
        sizes = self._layer_sizes()
        own = [c for c in chains if c in sizes and c not in image_chains]
        mounts = self.engine.root / "buildcache" / "mounts"
        total = sum(sizes[c] for c in own) + (_tree_bytes(mounts) if mounts.is_dir() else 0)
        return BuildCacheUsage(count=len(chains), active=len(chains) - len(own), size=total,
                               reclaimable=total, source="cache.db" if chains else "none")

    # ------------------------------------------------------------------ layer streams
    @contextlib.contextmanager
    def open_layer(self, layer: Layer, parent: Layer | None = None) -> Iterator[BinaryIO]:
        """The layer's uncompressed tar, read from its blob (digest and diffID verified when the
        caller reads to the end) or, without a blob, from the driver's diff."""
        from lamina.errors import DigestMismatch
        blobs = self.engine.blobs
        if layer.blob_digest is not None and blobs.exists(layer.blob_digest):
            with blobs.open(layer.blob_digest, layer.blob_size) as raw:
                stream = _HashingStream(_decompressed(raw))
                yield stream  # type: ignore[misc]
                got = stream.drain()
                raw.read()    # reach EOF so the verifying reader checks the compressed digest
            if got != str(layer.diff_id):
                raise DigestMismatch(str(layer.diff_id), got, what=f"layer {layer.chain_id} diff_id")
            return
        import tempfile
        with tempfile.TemporaryFile(dir=self.engine.root) as tmp:
            self.engine.driver.diff(layer.layer_id, parent.layer_id if parent else None, tmp)
            tmp.seek(0)
            yield tmp

    def _stack_streams(self, layers: Sequence[Layer], infos: Sequence[LayerInfo]) -> Iterator[
            tuple[LayerInfo, BinaryIO]]:
        for i, (layer, info) in enumerate(zip(layers, infos, strict=True)):
            with self.open_layer(layer, layers[i - 1] if i else None) as stream:
                yield info, stream

    def _stack(self, name: str) -> tuple[Image, list[Layer], list[LayerInfo]]:
        from lamina.image.analyze import layer_infos
        store = self.engine.image_store
        image = store.resolve(name)
        config = store.config(image)
        layers = store.layer_stack(image)
        infos = layer_infos(config.get("history") or [], [str(layer.diff_id) for layer in layers])
        return image, layers, infos

    # ------------------------------------------------------------------ analysis
    def analyze(self, name: str) -> tuple[Image, Analysis]:
        """dive's analysis of image *name*, read from its verified layer blobs."""
        from lamina.image.analyze import analyze
        image, layers, infos = self._stack(name)
        return image, analyze(self._stack_streams(layers, infos))

    def provenance(self, name: str, path: str) -> tuple[Image, Analysis, Provenance]:
        from lamina.image.analyze import provenance
        image, analysis = self.analyze(name)
        return image, analysis, provenance(analysis, path)

    def image_diff(self, first: str, second: str) -> list[PathDiff]:
        """A/C/D from image *first* to image *second* (sizes in bytes)."""
        from lamina.image.compare import compare, final_view
        _, a_layers, a_infos = self._stack(first)
        _, b_layers, b_infos = self._stack(second)
        shared = 0
        for x, y in zip(a_layers, b_layers, strict=False):
            if x.chain_id != y.chain_id:
                break
            shared += 1
        a = final_view((s for _, s in self._stack_streams(a_layers, a_infos)), hash_from=shared)
        b = final_view((s for _, s in self._stack_streams(b_layers, b_infos)), hash_from=shared)
        return compare(a, b, shared=shared)

    # ------------------------------------------------------------------ check / repair
    def check(self, *, repair: bool = False, verify_content: bool = True) -> CheckReport:
        """fsck: see the module docstring. With *repair*, fix what is found and check again."""
        found = self._scan(verify_content=verify_content)
        if not repair:
            return CheckReport(problems=tuple(found.problems), counts=found.counts)
        repaired, reload, unrepaired = self._repair(found.problems)
        after = self._scan(verify_content=False)
        left = tuple(p for p in after.problems if p.damage or not p.young) + unrepaired
        return CheckReport(problems=tuple(found.problems), counts=found.counts, repaired=tuple(repaired),
                           reload=tuple(reload), unrepaired=tuple(dict.fromkeys(left)))

    def _scan(self, *, verify_content: bool) -> _Findings:
        found = _Findings()
        careful = self._others_alive()
        self._check_layers(found, verify_content)
        self._check_blobs(found, careful)
        self._check_images(found)
        self._check_names(found)
        self._check_orphan_layers(found, careful)
        self._check_driver_dirs(found, careful)
        self._check_containers(found)
        self._check_leftovers(found)
        self._check_build_leftovers(found, careful)
        self._check_stale_mounts(found, careful)
        return found

    # ---- blobs
    def _referenced_blobs(self) -> dict[str, list[str]]:
        """blob digest → image ids that need it (layer blobs through the images stacked on them)."""
        refs: dict[str, list[str]] = {}
        for row in self.engine.db.query("SELECT digest, image_id FROM image_blobs"):
            refs.setdefault(row[0], []).append(row[1])
        for row in self.engine.db.query(
                "SELECT l.blob_digest, il.image_id FROM layers l LEFT JOIN image_layers il "
                "ON il.chain_id = l.chain_id WHERE l.blob_digest IS NOT NULL"):
            holders = refs.setdefault(row[0], [])
            if row[1] and row[1] not in holders:
                holders.append(row[1])
        return refs

    def _check_blobs(self, found: _Findings, careful: bool) -> None:
        from lamina.errors import BlobNotFound, DataCorruption
        blobs = self.engine.blobs
        refs = self._referenced_blobs()
        stored = {str(d): d for d in blobs.list()}
        found.counts["blobs"] = len(stored)
        for name, digest in sorted(stored.items()):
            if name in found.verified or name in found.corrupt:
                continue
            try:
                blobs.verify(digest)
            except DataCorruption as exc:
                found.corrupt.add(name)
                found.add("blob-corrupt", name, str(exc), damage=True, images=refs.get(name, ()))
            except BlobNotFound:
                continue
        for name in sorted(set(refs) - set(stored)):
            found.add("blob-missing", name, "referenced blob is not in the store", damage=True,
                      images=refs[name])
        for name in sorted(set(stored) - set(refs) - found.corrupt):
            found.add("blob-unreferenced", name, f"{_size(blobs.path(stored[name]))} bytes nothing references",
                      damage=False, young=careful and _young(blobs.path(stored[name])))

    # ---- layers
    def _layer_images(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for row in self.engine.db.query("SELECT chain_id, image_id FROM image_layers"):
            out.setdefault(row[0], []).append(row[1])
        return out

    def _check_layers(self, found: _Findings, verify_content: bool) -> None:
        layers = {str(layer.chain_id): layer for layer in self.engine.layers.all()}
        found.counts["layers"] = len(layers)
        holders = self._layer_images()
        driver = self.engine.driver if layers else None
        for chain, layer in sorted(layers.items()):
            parent = layers.get(str(layer.parent)) if layer.parent else None
            images = _descendant_images(chain, layers, holders)
            if layer.parent and parent is None:
                found.add("layer-parent-missing", chain, f"parent {layer.parent} has no row", damage=True,
                          images=images)
                continue
            assert driver is not None
            if not driver.exists(layer.layer_id):
                found.add("layer-dir-missing", chain, f"driver directory {layer.layer_id} is missing",
                          damage=True, images=images)
                continue
            if verify_content:
                self._verify_layer(found, layer, parent, driver, images)

    def _verify_layer(self, found: _Findings, layer: Layer, parent: Layer | None, driver: Driver,
                      images: Sequence[str]) -> None:
        from lamina.errors import BlobNotFound, DataCorruption, LaminaError
        if layer.blob_digest is None or not self.engine.blobs.exists(layer.blob_digest):
            return  # reported as blob-missing when something references it
        blob = str(layer.blob_digest)
        try:
            with self.open_layer(layer, parent) as stream:
                from lamina.image.analyze import read_members
                members = list(read_members(stream, hash_content=True))
            found.verified.add(blob)
        except DataCorruption as exc:
            kind = "layer-diffid" if "diff_id" in str(exc) else "blob-corrupt"
            (found.corrupt.add(blob) if kind == "blob-corrupt" else found.verified.add(blob))
            found.add(kind, blob if kind == "blob-corrupt" else str(layer.chain_id), str(exc), damage=True,
                      images=images)
            return
        except (BlobNotFound, LaminaError, OSError) as exc:
            found.add("layer-unreadable", str(layer.chain_id), f"read layer blob {blob}: {exc}", damage=True,
                      images=images)
            return
        mismatch = _compare_layer(driver, layer, parent, members)
        if mismatch:
            found.add("layer-content", str(layer.chain_id),
                      f"driver directory {layer.layer_id} differs from diffID {layer.diff_id}: {mismatch}",
                      damage=True, images=images)

    def _check_orphan_layers(self, found: _Findings, careful: bool) -> None:
        keep = self._cache_chains()
        rows = self.engine.db.query(
            "SELECT chain_id, created FROM layers l WHERE NOT EXISTS (SELECT 1 FROM image_layers il "
            "WHERE il.chain_id = l.chain_id) AND NOT EXISTS (SELECT 1 FROM layers c WHERE c.parent = l.chain_id)")
        for row in rows:
            if row[0] not in keep:   # a young row may be an import or build between ensure() and add()
                found.add("layer-unreferenced", row[0], "layer row no image or child layer holds", damage=False,
                          young=careful and time.time() - float(row[1]) < GRACE_SECONDS)

    # ---- images and names
    def _check_images(self, found: _Findings) -> None:
        from lamina.errors import LaminaError
        from lamina.image.store import config_diff_ids
        from lamina.layer.ids import chain_ids
        store = self.engine.image_store
        stacks = self._image_stacks()
        images = store.list()
        found.counts["images"] = len(images)
        for image in images:
            image_id = str(image.id)
            if image_id in found.corrupt or not self.engine.blobs.exists(image.id):
                continue  # reported with the blob
            try:
                diff_ids = config_diff_ids(store.config_bytes(image), len(stacks.get(image_id, [])))
            except LaminaError as exc:
                found.add("image-config", image_id, str(exc), damage=True, images=[image_id])
                continue
            expected = [str(c) for c in chain_ids(diff_ids)] if diff_ids else []
            if expected != stacks.get(image_id, []):
                found.add("image-layers", image_id, "layer references do not match the config's diff_ids",
                          damage=True, images=[image_id])

    def _check_names(self, found: _Findings) -> None:
        for table in ("tags", "repo_digests"):
            rows = self.engine.db.query(f"SELECT name, image_id FROM {table} t WHERE NOT EXISTS "
                                        "(SELECT 1 FROM images i WHERE i.id = t.image_id)")
            for row in rows:
                found.add("name-dangling", row[0], f"{table[:-1]} points at missing image {row[1]}", damage=True)

    # ---- driver directories
    def _container_layer_ids(self) -> set[str]:
        """Driver ids containers own: rw and init layers, also of records still being created."""
        base = self.engine.root / "containers"
        if not base.is_dir():
            return set()
        import json
        ids: set[str] = set()
        for entry in base.iterdir():
            cid = entry.name.removeprefix(".new-")
            ids.update((cid, f"{cid}-init"))
            with contextlib.suppress(OSError, ValueError):
                data = json.loads((entry / "config.json").read_text())
                ids.update(str(data.get(k)) for k in ("layer_id", "init_layer_id") if data.get(k))
        return ids

    def _driver_dirs(self) -> tuple[Path, list[Path]]:
        driver = self.engine.driver
        root = Path(driver.home) / driver.name
        try:
            return root, sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
        except FileNotFoundError:
            return root, []

    def _check_driver_dirs(self, found: _Findings, careful: bool) -> None:
        known = {r[0] for r in self.engine.db.query("SELECT layer_id FROM layers")}
        owned = self._container_layer_ids()
        root, dirs = self._driver_dirs()
        for path in dirs:
            name = path.name
            if name in _DRIVER_DIRS or name in known or name in owned or name == ".trash":
                continue
            kind = "driver-staging" if name.startswith(".tmp-") else "driver-orphan"
            found.add(kind, name, f"{path} has no layer row", damage=False, young=careful and _young(path))
        links = root / "l"
        if links.is_dir():
            for link in links.iterdir():
                if link.is_symlink() and not link.exists():
                    found.add("driver-dangling-link", link.name, f"{link} points nowhere", damage=False)

    def _check_leftovers(self, found: _Findings) -> None:
        for path in self._trash_dirs():
            with contextlib.suppress(FileNotFoundError):
                for entry in path.iterdir():
                    found.add("trash", str(entry), "left in trash by an interrupted removal", damage=False)

    def _build_leftovers(self) -> list[Path]:
        """RUN-step bundles and crun state/log files under ``<run_dir>/build`` and ``build-runtime``."""
        run_dir = self.engine.config.run_dir
        out: list[Path] = []
        for sub in ("build", "build-runtime"):
            with contextlib.suppress(FileNotFoundError):
                out += sorted((run_dir / sub).iterdir())
        return out

    def _check_build_leftovers(self, found: _Findings, careful: bool) -> None:
        if careful:   # a live build owns its bundle and crun state: only a dead process's are garbage
            return
        for path in self._build_leftovers():
            found.add("build-leftover", str(path), "left by a build killed during a RUN step", damage=False)

    def _stale_mounts(self) -> list[str]:
        """Driver ids of read-only layers still mounted (only ever transiently, by a live process)."""
        rows = self.engine.layers.all()
        driver = self.engine.driver if rows else None
        return [r.layer_id for r in rows if driver is not None and driver.is_mounted(r.layer_id)]

    def _check_stale_mounts(self, found: _Findings, careful: bool) -> None:
        if careful:   # another process may be reading a layer through its mount right now
            return
        for layer_id in self._stale_mounts():
            found.add("mount-stale", layer_id, "read-only layer left mounted by a killed process", damage=False)

    def _trash_dirs(self) -> list[Path]:
        root = self.engine.root
        dirs = [root / "trash", root / "volumes" / ".trash", root / "containers" / ".trash"]
        storage = root / "storage"
        if storage.is_dir():
            dirs += [p / ".trash" for p in storage.iterdir() if p.is_dir()]
        return dirs

    # ---- containers
    def _check_containers(self, found: _Findings) -> None:
        if not self._has_containers():
            return
        from lamina.container.store import ContainerStore
        store = ContainerStore(self.engine.root / "containers")
        images = {r[0] for r in self.engine.db.query("SELECT id FROM images")}
        volumes = {v.name for v in self.engine.volumes.list()}
        driver = self.engine.driver
        records = store.list()
        found.counts["containers"] = len(records)
        for cid in store.ids():
            if store.incomplete(cid):
                found.add("container-incomplete", cid, "record left by an interrupted create", damage=False)
        for c in records:
            if c.image_id not in images:
                found.add("container-image-missing", c.name, f"image {c.image_id} is gone", damage=True)
            for layer_id in (c.layer_id, c.init_layer_id):
                if layer_id and not driver.exists(layer_id):
                    found.add("container-layer-missing", c.name, f"layer {layer_id} is missing", damage=True)
            for mount in c.mounts:
                if mount.type == "volume" and mount.name not in volumes:
                    found.add("container-volume-missing", c.name, f"volume {mount.name} is missing", damage=True)

    # ---- repair
    def _repair(self, problems: Sequence[Problem]) -> tuple[list[str], list[str], tuple[Problem, ...]]:
        """Remove damaged images and layers, then orphans; returns (actions, names to reload, left)."""
        actions: list[str] = []
        in_use = self._container_images()
        bad_images = sorted({i for p in problems if p.damage for i in p.images})
        kept = [i for i in bad_images if in_use.get(i)]
        reload = self._drop_images([i for i in bad_images if not in_use.get(i)], actions)
        self._drop_layers({p.subject for p in problems if p.kind.startswith("layer-") and p.damage}, actions)
        for p in problems:
            if p.kind == "blob-corrupt" and self.engine.blobs.delete(_digest(p.subject)):
                actions.append(f"deleted corrupt blob {p.subject}")
            elif p.kind == "name-dangling":
                self._drop_name(p.subject, actions)
            elif p.kind == "container-layer-missing":
                self._drop_container(p.subject, actions)
        actions += self._remove_orphans(careful=self._others_alive())
        left = tuple(Problem(kind="image-in-use", subject=i, detail="damaged image is used by a container: "
                             "remove the container, then run check --repair again", damage=True) for i in kept)
        return actions, reload, left

    def _drop_images(self, image_ids: Sequence[str], actions: list[str]) -> list[str]:
        from lamina.reference import Reference
        reload: list[str] = []
        for image_id in image_ids:
            names = [r[0] for r in self.engine.db.query("SELECT name FROM tags WHERE image_id = ?", (image_id,))]
            reload += [Reference.parse(n).familiar() for n in names] or [image_id]
            with self.engine.db.transaction() as cur:
                cur.execute("DELETE FROM images WHERE id = ?", (image_id,))
            actions.append(f"removed damaged image {image_id}")
        return reload

    def _drop_layers(self, chains: set[str], actions: list[str]) -> None:
        """Remove damaged layer rows no remaining image uses, children first, with their directories."""
        rows = {str(layer.chain_id): layer for layer in self.engine.layers.all()}
        doomed = {c for c in rows if any(a in chains for a in _ancestry(c, rows))}
        holders = self._layer_images()
        for chain in sorted(doomed, key=lambda c: -len(_ancestry(c, rows))):
            if holders.get(chain):
                continue
            with self.engine.db.transaction() as cur:
                cur.execute("DELETE FROM layers WHERE chain_id = ? AND NOT EXISTS "
                            "(SELECT 1 FROM layers c WHERE c.parent = ?)", (chain, chain))
                gone = cur.rowcount > 0
            if gone:
                self.engine.driver.remove(rows[chain].layer_id)
                actions.append(f"removed damaged layer {chain}")

    def _drop_name(self, name: str, actions: list[str]) -> None:
        with self.engine.db.transaction() as cur:
            cur.execute("DELETE FROM tags WHERE name = ?", (name,))
            cur.execute("DELETE FROM repo_digests WHERE name = ?", (name,))
        actions.append(f"removed dangling name {name}")

    def _drop_container(self, name: str, actions: list[str]) -> None:
        from lamina.errors import LaminaError
        try:
            self.engine.containers.remove(name, force=True)
            actions.append(f"removed container {name} (its layer was missing)")
        except LaminaError as exc:
            log.warning("remove broken container %s: %s", name, exc)

    # ------------------------------------------------------------------ orphans and recovery
    def recover(self) -> list[str]:
        """Start-up recovery after a crash (the caller holds the session gate exclusively)."""
        actions = self._remove_orphans(careful=False)
        if actions:
            log.info("recovered: %s", "; ".join(actions))
        return actions

    def _remove_orphans(self, *, careful: bool) -> list[str]:
        """Staging, trash, unreferenced layer rows, driver dirs without rows, unreferenced blobs.

        With *careful* (other lamina processes are alive) things younger than GRACE_SECONDS stay.
        """
        actions: list[str] = []
        if self.engine.blobs.clean():
            actions.append("removed stale blob staging")
        actions += self._empty_trash()
        if not careful:
            actions += self._remove_build_leftovers()
            actions += self._unmount_stale_layers()
        actions += self._release_orphan_layers(careful)
        actions += self._remove_driver_orphans(careful)
        actions += [f"deleted unreferenced blob {d}" for d in self._gc_blobs(careful=careful).removed]
        return actions

    def _empty_trash(self) -> list[str]:
        from lamina._internal.fsops import rmtree
        actions = []
        for path in self._trash_dirs():
            with contextlib.suppress(FileNotFoundError):
                for entry in path.iterdir():
                    rmtree(entry)
                    actions.append(f"emptied trash {entry.name}")
        return actions

    def _remove_build_leftovers(self) -> list[str]:
        """Crash: SIGKILL during a build's RUN step leaves its bundle, crun's state and log file, its
        network namespace (and maybe the step's process, still running in the rw layer's rootfs):
        delete the crun container (killing what runs), leave the network, then remove the files.
        The rw layer itself goes as a driver orphan after this."""
        from lamina._internal.fsops import rmtree
        from lamina.errors import LaminaError
        actions = []
        for path in self._build_leftovers():
            if path.parent.name == "build-runtime" and path.is_dir() and not path.name.startswith("."):
                with contextlib.suppress(LaminaError, OSError):
                    from lamina.runtime.crun import CrunRuntime
                    CrunRuntime(self.engine.config.runtime, state_root=path.parent).delete(path.name, force=True)
            if path.name.endswith(".netns"):   # the step's network: its address, then the namespace
                from lamina.network.bridge import BridgeNetwork
                BridgeNetwork().detach(path.name.removesuffix(".netns"), path, None)
            elif path.is_dir() and not path.is_symlink():
                rmtree(path)
            else:
                path.unlink(missing_ok=True)
            actions.append(f"removed build leftover {path.name}")
        return actions

    def _unmount_stale_layers(self) -> list[str]:
        """Crash: SIGKILL while a read-only layer is mounted (a build's COPY or new-directory view of
        its parent, check comparing a layer, a container create's view of its image) leaves the mount
        and its on-disk count; nothing unmounts it later. With no other process alive nobody uses it
        (containers mount only their own rw layers): give back every count, which unmounts."""
        driver = self.engine.driver
        actions = []
        for layer_id in self._stale_mounts():
            for _ in range(10_000):   # one unmount per leaked reference; the last one unmounts
                if not driver.is_mounted(layer_id):
                    break
                driver.unmount(layer_id)
            actions.append(f"unmounted stale layer mount {layer_id}")
        return actions

    def _release_orphan_layers(self, careful: bool) -> list[str]:
        found = _Findings()
        self._check_orphan_layers(found, careful)
        actions = []
        for p in found.problems:
            if p.young:
                continue
            for layer in self.engine.layers.release(_digest(p.subject)):
                actions.append(f"released layer {layer.chain_id}")
        return actions

    def _remove_driver_orphans(self, careful: bool) -> list[str]:
        from lamina._internal.fsops import rmtree
        found = _Findings()
        self._check_driver_dirs(found, careful)
        root, _ = self._driver_dirs()
        actions = []
        for p in found.problems:
            if p.young:
                continue
            if p.kind == "driver-orphan":
                self.engine.driver.remove(p.subject)
            elif p.kind == "driver-staging":
                rmtree(root / p.subject)
            else:
                (root / "l" / p.subject).unlink(missing_ok=True)
            actions.append(f"removed {p.kind} {p.subject}")
        return actions

    def _gc_roots(self) -> list[Digest]:
        from lamina.digest import Digest
        rows = self.engine.db.query("SELECT manifest_digest FROM images UNION SELECT digest FROM image_blobs "
                                    "UNION SELECT blob_digest FROM layers WHERE blob_digest IS NOT NULL")
        return [Digest.parse(r[0]) for r in rows]

    def _gc_blobs(self, *, careful: bool) -> Any:
        """store.gc with roots = every image manifest and blob + every layer blob; with *careful*,
        unreferenced blobs younger than GRACE_SECONDS survive (a concurrent pull may be about to use them)."""
        from lamina.store.gc import GCResult, gc, mark
        blobs = self.engine.blobs
        if not careful:
            return gc(blobs, self._gc_roots())
        removed, freed = [], 0
        with blobs.lock(exclusive=True):
            live = mark(blobs, self._gc_roots())
            for digest in list(blobs.list()):
                path = blobs.path(digest)
                if digest not in live and not _young(path):
                    size = _size(path)
                    if blobs.delete(digest):
                        removed.append(digest)
                        freed += size
        return GCResult(removed=removed, freed=freed)

    # ------------------------------------------------------------------ prune
    def prune_images(self, *, all_images: bool = False, filters: PruneFilter | None = None) -> PruneReport:
        """Remove dangling images (with *all_images*, every image no container uses) that *filters* match."""
        from lamina.reference import Reference
        used = self._container_images()
        store = self.engine.image_store
        sizes = self._layer_sizes()
        lines: list[str] = []
        freed = 0
        for image in store.list():
            if used.get(str(image.id)) or (image.tags and not all_images):
                continue
            if filters and not filters.matches(image.created, _image_labels(store, image)):
                continue
            blob_bytes = self._image_blob_bytes(image)
            lines += [f"untagged: {Reference.parse(t).familiar()}" for t in image.tags]
            lines += [f"untagged: {d}" for d in image.repo_digests]
            for event in store.delete(image):
                ident = event.removeprefix("Deleted: ")
                freed += sizes.get(ident, 0)
                lines.append(f"deleted: {ident}")
            freed += sum(size for d, size in blob_bytes.items() if not self.engine.blobs.exists(_digest(d)))
        gc = self._gc_blobs(careful=self._others_alive())
        return PruneReport(images=tuple(lines), reclaimed=freed + gc.freed,
                           blobs=tuple(str(d) for d in gc.removed))

    def _image_blob_bytes(self, image: Image) -> dict[str, int]:
        rows = self.engine.db.query("SELECT digest FROM image_blobs WHERE image_id = ?", (str(image.id),))
        out = {}
        for row in rows:
            with contextlib.suppress(OSError, ValueError):
                out[row[0]] = _size(self.engine.blobs.path(_digest(row[0])))
        return out

    def prune_containers(self, filters: PruneFilter | None = None) -> PruneReport:
        """Remove every stopped container (that *filters* match)."""
        if not self._has_containers():
            return PruneReport()
        service = self.engine.containers
        deleted, freed = [], 0
        for container, state in service.list():
            if state.running or (filters and not filters.matches(container.created, container.all_labels)):
                continue
            with contextlib.suppress(Exception):
                freed += service.size(container)
            service.remove(container.id)
            deleted.append(container.id)
        return PruneReport(containers=tuple(deleted), reclaimed=freed)

    def prune_volumes(self, *, all_volumes: bool = False, filters: PruneFilter | None = None) -> PruneReport:
        """Remove unused anonymous volumes (with *all_volumes*, unused named ones too) that *filters*
        match (labels only: docker has no ``until`` for volumes)."""
        if not (self.engine.root / "volumes").is_dir():
            return PruneReport()
        users = self._volume_users()
        if filters and filters.labels:   # a volume that does not match is kept as if it were in use
            for volume in self.engine.volumes.list():
                if not PruneFilter(labels=filters.labels).matches(None, volume.labels):
                    users.setdefault(volume.name, []).append("(filtered out)")
        removed = self.engine.volumes.prune(users, all_volumes=all_volumes)
        return PruneReport(volumes=tuple(n for n, _ in removed), reclaimed=sum(s for _, s in removed))

    def prune_build_cache(self) -> PruneReport:
        """``engine.build.prune()`` (the builder's: forgets the cache, releases the layers only it held)."""
        service = getattr(self.engine, "build", None) if (self.engine.root / "buildcache").is_dir() else None
        if service is None or not callable(getattr(service, "prune", None)):
            return PruneReport()
        before = len(self._cache_chains())
        freed = int(service.prune())
        return PruneReport(build_cache=(f"{before} cache entries",) if before else (), reclaimed=freed)

    def prune(self, *, all_images: bool = False, volumes: bool = False,
              filters: PruneFilter | None = None) -> PruneReport:
        """``system prune``: stopped containers, unused networks, then images, volumes (opt-in), build
        cache, blobs; *filters* narrow containers, networks, images and volumes (labels)."""
        report = self.prune_containers(filters)
        report += PruneReport(networks=tuple(self.engine.containers.prune_networks(filters)))
        if volumes:
            report += self.prune_volumes(filters=PruneFilter(labels=filters.labels) if filters else None)
        report += self.prune_images(all_images=all_images, filters=filters)
        report += self.prune_build_cache()
        return report


# ====================================================================== helpers
def _instant(created: str | float | None) -> float | None:
    """A record's creation time (RFC 3339, any fraction digits) as Unix time; None when unknown."""
    if created is None or isinstance(created, float | int):
        return None if created is None else float(created)
    from lamina._internal.timestamps import parse_timestamp
    from lamina.errors import InvalidOption
    try:
        return parse_timestamp(created).timestamp()
    except InvalidOption:
        return None


def _image_labels(store: Any, image: Image) -> dict[str, str]:
    from lamina.errors import LaminaError
    with contextlib.suppress(LaminaError, ValueError, OSError):
        return dict(store.config(image).get("config", {}).get("Labels") or {})
    return {}


class _HashingStream:
    """Pass a stream through while hashing it (sha256); ``drain`` reads what the consumer left."""

    def __init__(self, raw: BinaryIO) -> None:
        import hashlib
        self._raw = raw
        self._hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._hash.update(data)
        return data

    def drain(self) -> str:
        while self.read(1 << 20):
            pass
        return f"sha256:{self._hash.hexdigest()}"


def _decompressed(raw: Any) -> BinaryIO:
    from lamina.layer.compression import open_decompressed
    return open_decompressed(raw)


def _digest(text: str) -> Digest:
    from lamina.digest import Digest
    return Digest.parse(text)


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except FileNotFoundError:
        return 0


def _young(path: Path) -> bool:
    try:
        return time.time() - path.lstat().st_mtime < GRACE_SECONDS
    except FileNotFoundError:
        return False


def _tree_bytes(root: Path) -> int:
    from lamina.container.volumes import tree_size
    return tree_size(root)


def _ancestry(chain: str, rows: dict[str, Layer]) -> list[str]:
    out = []
    current: str | None = chain
    while current is not None and current not in out:
        out.append(current)
        layer = rows.get(current)
        current = str(layer.parent) if layer is not None and layer.parent else None
    return out


def _descendant_images(chain: str, rows: dict[str, Layer], holders: dict[str, list[str]]) -> list[str]:
    """Images whose stack contains *chain* (they hold it or one of its descendants)."""
    images: list[str] = []
    for other in rows:
        if chain in _ancestry(other, rows):
            images += [i for i in holders.get(other, []) if i not in images]
    return images


def _builder_hook(name: str) -> Callable[..., Any] | None:
    """A function the builder module exposes (``lamina.engine.build.<name>``), if it exists."""
    from importlib.util import find_spec
    if find_spec("lamina.engine.build") is None:
        return None
    import importlib
    module = importlib.import_module("lamina.engine.build")
    hook = getattr(module, name, None)
    return hook if callable(hook) else None


# ---------------------------------------------------------------------- layer content vs driver view
def _compare_layer(driver: Driver, layer: Layer, parent: Layer | None, members: Sequence[Member]) -> str:
    """"" when the driver's view of *layer* holds exactly the tar's entries; else the first difference."""
    view = driver.mount(layer.layer_id)
    try:
        for member in members:
            problem = _compare_member(view, member)
            if problem:
                return problem
    finally:
        driver.unmount(layer.layer_id)
    return _unexplained_change(driver, layer, parent, members)


def _compare_member(view: Path, member: Member) -> str:
    import stat as st
    path = view / member.path
    if member.op == "whiteout":
        return f"/{member.path} should be deleted" if os.path.lexists(path) else ""
    if member.op == "opaque":
        return ""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return f"/{member.path} is missing"
    if member.kind in ("char", "block") and os.geteuid() != 0:
        return ""   # apply skips device nodes without root
    expected = {"file": st.S_ISREG, "hardlink": lambda _: True, "dir": st.S_ISDIR, "symlink": st.S_ISLNK,
                "char": st.S_ISCHR, "block": st.S_ISBLK, "fifo": st.S_ISFIFO}[member.kind]
    if not expected(info.st_mode):
        return f"/{member.path} is not a {member.kind}"
    return _compare_details(path, info, member)


def _compare_details(path: Path, info: os.stat_result, member: Member) -> str:
    if member.kind == "symlink":
        return "" if os.readlink(path) == member.link else f"/{member.path} link target differs"
    if member.kind == "hardlink":
        return ""
    if member.kind != "dir" and (info.st_mode & 0o7777) != member.mode:
        return f"/{member.path} mode {oct(info.st_mode & 0o7777)} != {oct(member.mode)}"
    if os.geteuid() == 0 and (info.st_uid, info.st_gid) != (member.uid, member.gid):
        return f"/{member.path} owner {info.st_uid}:{info.st_gid} != {member.uid}:{member.gid}"
    if member.kind == "file":
        if info.st_size != member.size:
            return f"/{member.path} size {info.st_size} != {member.size}"
        if _sha256(path) != member.digest:
            return f"/{member.path} content differs (sha256)"
    return ""


def _sha256(path: Path) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _unexplained_change(driver: Driver, layer: Layer, parent: Layer | None, members: Sequence[Member]) -> str:
    """A path the driver reports changed that no tar entry, parent of one, or whiteout explains."""
    allowed: set[str] = set()
    covers: list[str] = []
    for member in members:
        parts = member.path.split("/")
        allowed.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        if member.op != "entry":   # below a whiteout victim or an opaque dir, removals are explained
            covers.append(member.path + "/")
    for change in driver.changes(layer.layer_id, parent.layer_id if parent else None):
        rel = change.path.strip("/")
        if rel not in allowed and not any(rel.startswith(c) for c in covers):
            return f"{change.kind} /{rel} is not in the layer tar"
    return ""
