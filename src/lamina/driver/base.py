"""The code every storage driver shares (the protocol itself is ``lamina.driver.protocol``).

A driver maps an opaque ``layer_id`` to a directory tree and can mount a layer's
merged view (the layer on top of its parent chain). It must not parse manifests or
image configs, must not know chain ids or diff ids beyond treating them as names,
and must not write tar code: tar semantics live in ``lamina.layer``.

Shared behaviour implemented here:

* ``validate_layer_id``: ids become directory names, so only ``[A-Za-z0-9][A-Za-z0-9_.-]*``.
* ``RefcountedDriver``: ``mount``/``unmount``/``is_mounted``/``cleanup`` with the mount
  count on disk, because the CLI is daemonless: one ``lamina`` process mounts, another
  unmounts. The count lives in ``<layer dir>/mounts`` and is only read or written
  under an flock on ``<layer dir>/mount.lock``. A count left by a crash or a reboot is
  healed: when the driver's ``_is_active`` says nothing is mounted, the count restarts
  at zero. ``cleanup`` gives back exactly the references this process took. Its root
  is marked ``chattr +T`` (``fsops.spread_subdirs``) so ext4 spreads layers over block groups.
* ``NaiveDiff``: changes by walking two trees (``changes_between``), diff by writing
  those changes as a tar (OCI whiteouts), for drivers whose layer dir is a full tree.
"""

from __future__ import annotations

import abc
import collections
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lamina._internal.fsops import is_plain_name, move_to_trash, rmtree, spread_subdirs
from lamina._internal.locking import FileLock
from lamina._internal.logs import get_logger
from lamina.errors import Conflict, InvalidArgument, LayerNotFound

TYPE_CHECKING = False
if TYPE_CHECKING:   # the layer walkers and tar writer load when a diff is asked for, not on ``run``
    from typing import BinaryIO

    from lamina.layer.changes import Change

log = get_logger(__name__)

_LAYER_ID = "[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"


def validate_layer_id(layer_id: str) -> str:
    """Return *layer_id* if it is safe as one directory name, else raise InvalidArgument."""
    if not is_plain_name(layer_id, 128):
        raise InvalidArgument(f"use layer id {layer_id!r}: must match {_LAYER_ID}", layer=layer_id)
    return layer_id


class RefcountedDriver(abc.ABC):
    """Layer dirs under ``<home>/<name>/<layer_id>/`` with an on-disk, flock-guarded mount count.

    Subclasses implement ``_populate`` (fill a fresh layer dir), ``_activate`` /
    ``_deactivate`` / ``_is_active`` (the real mount, if any) and ``_view`` (the path
    ``mount`` returns).
    """

    name: str = ""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.root = self.home / self.name
        self.root.mkdir(parents=True, exist_ok=True)
        spread_subdirs(self.root)   # new layers land away from the inodes removed layers just freed
        self._held: collections.Counter[str] = collections.Counter()

    # ---------------------------------------------------------------- layout
    def _layer_dir(self, layer_id: str) -> Path:
        return self.root / validate_layer_id(layer_id)

    def _require(self, layer_id: str) -> Path:
        path = self._layer_dir(layer_id)
        if not path.is_dir():
            raise LayerNotFound(layer_id)
        return path

    def exists(self, layer_id: str) -> bool:
        return self._layer_dir(layer_id).is_dir()

    def parent_of(self, layer_id: str) -> str | None:
        """The parent recorded at create time (None for a base layer)."""
        path = self._require(layer_id) / "parent"
        if not path.exists():
            return None
        return path.read_text().strip() or None

    # ---------------------------------------------------------------- create / remove
    def create(self, layer_id: str, parent: str | None, *, writable: bool = False) -> None:
        """Make an empty layer on *parent*. Raises Conflict if it exists, LayerNotFound for a bad parent."""
        final = self._layer_dir(layer_id)
        if final.exists():
            raise Conflict(f"create layer {layer_id}: layer already exists", layer=layer_id)
        if parent is not None:
            self._require(parent)
        staging = self.root / f".tmp-{layer_id}-{os.urandom(4).hex()}"
        staging.mkdir()
        try:
            # No fsync for files in the staging dir: the layer store above records an
            # incomplete marker around driver work, so a torn layer after a crash is removed.
            (staging / "parent").write_text(parent or "")
            if writable:
                (staging / "writable").touch()
            self._populate(layer_id, parent, staging, writable=writable)
            os.rename(staging, final)
        except BaseException:
            rmtree(staging)
            raise
        self._created(layer_id, parent)
        log.debug("created layer driver=%s layer=%s parent=%s", self.name, layer_id, parent)

    def remove(self, layer_id: str) -> None:
        """Delete a layer, unmounting it first whatever its count. Missing layers are fine (idempotent)."""
        path = self._layer_dir(layer_id)
        if not path.exists():
            return
        with self._mount_lock(layer_id):
            if self._is_active(layer_id):
                self._deactivate(layer_id)
            self._write_count(layer_id, 0)
        self._held.pop(layer_id, None)
        self._removing(layer_id)
        trash = move_to_trash(path, self.root / ".trash")
        rmtree(trash)

    def writable(self, layer_id: str) -> bool:
        return (self._require(layer_id) / "writable").exists()

    # ---------------------------------------------------------------- mount refcounting
    @contextmanager
    def _mount_lock(self, layer_id: str) -> Iterator[None]:
        with FileLock(self._layer_dir(layer_id) / "mount.lock"):
            yield

    def _read_count(self, layer_id: str) -> int:
        try:
            return int((self._layer_dir(layer_id) / "mounts").read_text() or "0")
        except (FileNotFoundError, ValueError):
            return 0

    def _write_count(self, layer_id: str, count: int) -> None:
        path = self._layer_dir(layer_id) / "mounts"
        if count <= 0:
            path.unlink(missing_ok=True)
            return
        # rename for atomicity, no fsync: a count lost in a crash is healed by the next mount
        tmp = path.with_name(f".mounts-{os.urandom(4).hex()}")
        tmp.write_text(str(count))
        os.replace(tmp, path)

    def mount(self, layer_id: str) -> Path:
        """Return the merged view of *layer_id*, mounting it if no process has. Counted: pair with unmount."""
        self._require(layer_id)
        with self._mount_lock(layer_id):
            count = self._read_count(layer_id)
            if not self._is_active(layer_id):
                if count:
                    log.info("stale mount count healed driver=%s layer=%s count=%d",
                             self.name, layer_id, count)
                count = 0
                self._activate(layer_id)
            self._write_count(layer_id, count + 1)
        self._held[layer_id] += 1
        return self._view(layer_id)

    def unmount(self, layer_id: str) -> None:
        """Drop one reference; the last one unmounts. Unmounting an unmounted layer is a no-op."""
        self._require(layer_id)
        with self._mount_lock(layer_id):
            count = self._read_count(layer_id) - 1
            if count <= 0 and self._is_active(layer_id):
                self._deactivate(layer_id)
            self._write_count(layer_id, count)
        if self._held[layer_id] > 0:
            self._held[layer_id] -= 1

    def is_mounted(self, layer_id: str) -> bool:
        if not self.exists(layer_id):
            return False
        return self._is_active(layer_id)

    def mount_count(self, layer_id: str) -> int:
        """The on-disk count of references to the layer's mount (0 when not mounted)."""
        return self._read_count(layer_id) if self.is_mounted(layer_id) else 0

    def cleanup(self) -> None:
        """Give back every mount reference this driver object took (each one unmounts at zero)."""
        for layer_id, count in list(self._held.items()):
            for _ in range(count):
                if self.exists(layer_id):
                    self.unmount(layer_id)
        self._held.clear()

    def layers(self) -> list[str]:
        """Ids of every layer on disk (unordered)."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and is_plain_name(p.name, 128)
                      and (p / "parent").exists())

    # ---------------------------------------------------------------- hooks
    @abc.abstractmethod
    def _populate(self, layer_id: str, parent: str | None, staging: Path, *, writable: bool) -> None: ...

    def _created(self, layer_id: str, parent: str | None) -> None:  # noqa: B027 - optional hook
        """Called after the layer dir is in place (overlay makes its short link here)."""

    def _removing(self, layer_id: str) -> None:  # noqa: B027 - optional hook
        """Called before the layer dir is trashed (overlay drops its short link and flat caches)."""

    @abc.abstractmethod
    def _activate(self, layer_id: str) -> None: ...

    @abc.abstractmethod
    def _deactivate(self, layer_id: str) -> None: ...

    @abc.abstractmethod
    def _is_active(self, layer_id: str) -> bool: ...

    @abc.abstractmethod
    def _view(self, layer_id: str) -> Path: ...


class NaiveDiff(RefcountedDriver):
    """Diff by walking: for drivers whose layer dir (``_tree``) is the layer's full merged tree."""

    @abc.abstractmethod
    def _tree(self, layer_id: str) -> Path: ...

    def _parent_tree(self, parent: str | None) -> Path | None:
        return None if parent is None else self._require_tree(parent)

    def _require_tree(self, layer_id: str) -> Path:
        self._require(layer_id)
        return self._tree(layer_id)

    def changes(self, layer_id: str, parent: str | None) -> list[Change]:
        """What *layer_id*'s tree changed relative to *parent*'s (all of it when parent is None)."""
        from lamina.layer.changes import changes_between
        return changes_between(self._parent_tree(parent), self._require_tree(layer_id))

    def diff(self, layer_id: str, parent: str | None, out: BinaryIO, *, epoch: int | None = None) -> None:
        """Write the changes as an uncompressed tar with OCI whiteouts to *out* (not closed)."""
        tree = self._require_tree(layer_id)
        from lamina.layer.tarwriter import write_changes
        write_changes(tree, self.changes(layer_id, parent), out, epoch=epoch)

    def diff_size(self, layer_id: str, parent: str | None) -> int:
        return changes_size(self._require_tree(layer_id), self.changes(layer_id, parent))


def changes_size(root: Path, changes: list[Change]) -> int:
    """Bytes of regular files added or changed (hard links counted once), like docker's ChangesSize."""
    from lamina.layer.changes import ChangeKind
    seen: set[tuple[int, int]] = set()
    total = 0
    for change in changes:
        if change.kind == ChangeKind.DELETE:
            continue
        try:
            st = (root / change.path.lstrip("/")).lstat()
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total
