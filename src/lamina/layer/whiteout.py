"""Whiteout names and the on-disk whiteout formats used when applying a layer.

Must not read tar streams or walk trees on its own: ``apply.py`` calls these hooks
with directories it has already resolved safely (``pathsafety.RootWalker``).

Formats (umoci's sealed ``OnDiskFormat`` idea, as a strategy):

* ``OCIWhiteouts`` applies ``.wh.NAME`` by deleting NAME in the target, which is a
  full copy of the parent tree (the copy driver). Deletions never touch entries
  this same layer created, whatever their order in the tar (image-spec: whiteouts
  only hide *lower* layers); ``.wh..wh..opq`` removes the lower children of its dir.
* ``OverlayWhiteouts`` writes the overlayfs form into a fresh upper dir: a 0:0 char
  device for a deleted name and ``trusted.overlay.opaque=y`` (``user.`` in userxattr
  mode) on an opaque dir; a dir replacing a whiteout becomes opaque, and whiteouts
  below a dir made opaque in the same layer are dropped. Where umoci's overlay mode
  deletes a same-layer ``X/before`` on a later ``.wh.X``, we keep it and make ``X``
  opaque instead, which is what the OCI rule (and the copy driver) gives.
* ``LiteralWhiteouts`` extracts ``.wh.*`` entries as ordinary files ("plain untar").
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

from lamina._internal.logs import get_logger
from lamina.errors import InternalError, InvalidLayer, RootRequired
from lamina.layer.pathsafety import ResolvedDir, RootWalker, lstat_at

log = get_logger(__name__)

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
OPAQUE = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
OVERLAY_USER_OPAQUE_XATTR = "user.overlay.opaque"

EntryKind = Literal["opaque", "whiteout", "meta", "plain"]


def classify(base: str, entry: str) -> tuple[EntryKind, str]:
    """Kind of a member by its last component, and the deleted name for a whiteout.

    ``.wh.``, ``.wh..`` and ``.wh...`` would delete nothing, the directory itself or
    its parent: they raise InvalidLayer ("invalid whiteout entry"). Other
    ``.wh..wh.*`` names are AUFS metadata and are ignored, as docker does.
    """
    if base == OPAQUE:
        return "opaque", ""
    if base.startswith(WHITEOUT_META_PREFIX):
        return "meta", ""
    if base.startswith(WHITEOUT_PREFIX):
        victim = base[len(WHITEOUT_PREFIX):]
        if victim in ("", ".", ".."):
            raise InvalidLayer(f"apply layer: invalid whiteout entry {entry!r}", entry=entry)
        return "whiteout", victim
    return "plain", ""


def whiteout_name(name: str) -> str:
    """``.wh.NAME`` for a base name."""
    return WHITEOUT_PREFIX + name


def is_whiteout_device(st: os.stat_result) -> bool:
    """True for the overlayfs whiteout: a character device with device number 0:0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque_dir(path: str | os.PathLike[str] | int, *, userxattr: bool = False) -> bool:
    """True if the directory carries the overlay opaque xattr with value ``y``."""
    name = OVERLAY_USER_OPAQUE_XATTR if userxattr else OVERLAY_OPAQUE_XATTR
    try:
        if isinstance(path, int):
            return os.getxattr(path, name) == b"y"
        return os.getxattr(path, name, follow_symlinks=False) == b"y"
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.ENOENT):
            return False
        raise


class ApplyTarget(Protocol):
    """What ``apply.py`` offers whiteout formats while one layer is applied."""

    walker: RootWalker
    opaque_dirs: set[str]   # real paths made opaque by this layer (overlay)

    def remove_lower(self, where: ResolvedDir, name: str, entry: str) -> None:
        """Delete *name* in *where* except what this layer created (keeps parent times)."""

    def invalidate(self) -> None:
        """Tell the walker that directories or symlinks were removed."""


class WhiteoutFormat(Protocol):
    """How whiteouts land on disk. ``interprets`` False means ``.wh.*`` are plain files."""

    interprets: bool

    def whiteout(self, target: ApplyTarget, parent: Sequence[str], name: str, entry: str) -> None:
        """Handle ``parent/.wh.name``; *parent* is normalised components, not yet resolved."""

    def opaque(self, target: ApplyTarget, directory: Sequence[str], entry: str) -> None:
        """Handle ``directory/.wh..wh..opq``."""

    def replaced(self, target: ApplyTarget, parent: ResolvedDir, name: str, old: os.stat_result) -> None:
        """A new directory *name* in *parent* replaced the non-directory *old*."""


class OCIWhiteouts:
    """Apply whiteouts by deleting lower content in place (the copy driver's full tree)."""

    interprets = True

    def whiteout(self, target: ApplyTarget, parent: Sequence[str], name: str, entry: str) -> None:
        where = target.walker.resolve(parent, create=False, entry=entry)
        if where is not None:  # a missing (or dead-symlink) parent: nothing to delete
            target.remove_lower(where, name, entry)

    def opaque(self, target: ApplyTarget, directory: Sequence[str], entry: str) -> None:
        # The directory is created if missing, like the overlay form (which must create it
        # to carry the xattr), so both formats give the same merged tree.
        where = target.walker.resolve(directory, create=True, entry=entry)
        assert where is not None
        for child in sorted(os.listdir(where.fd)):
            target.remove_lower(where, child, entry)

    def replaced(self, target: ApplyTarget, parent: ResolvedDir, name: str, old: os.stat_result) -> None:
        return None


class OverlayWhiteouts:
    """Write overlayfs whiteouts (0:0 char devices, opaque xattrs) into a fresh upper dir."""

    interprets = True

    def __init__(self, *, userxattr: bool = False) -> None:
        self.userxattr = userxattr
        self.xattr = OVERLAY_USER_OPAQUE_XATTR if userxattr else OVERLAY_OPAQUE_XATTR

    def whiteout(self, target: ApplyTarget, parent: Sequence[str], name: str, entry: str) -> None:
        where = target.walker.resolve(parent, create=True, entry=entry)
        assert where is not None
        if _under(where.real, target.opaque_dirs):
            return  # the opaque dir already hides every lower name below it
        st = lstat_at(where.fd, name)
        if st is None:
            self._mknod_whiteout(where, name, entry)
        elif stat.S_ISDIR(st.st_mode):
            # Same-layer content stays (OCI rule); the lower dir is hidden by opacity.
            self._make_opaque(target, where, name)
        # a same-layer non-directory (or an existing whiteout) already hides the lower name

    def opaque(self, target: ApplyTarget, directory: Sequence[str], entry: str) -> None:
        if not directory:
            raise InvalidLayer(f"apply layer: {entry!r}: the root cannot be made opaque "
                               "in an overlay upper dir", entry=entry)
        where = target.walker.resolve(directory, create=True, entry=entry)  # or replace a non-dir
        assert where is not None
        self._mark(target, where.fd, where.path)

    def replaced(self, target: ApplyTarget, parent: ResolvedDir, name: str, old: os.stat_result) -> None:
        if is_whiteout_device(old):  # a dir over a deleted name must not show the lower dir
            self._make_opaque(target, parent, name)

    def is_whiteout(self, st: os.stat_result) -> bool:
        return is_whiteout_device(st)

    def is_opaque(self, path: str | os.PathLike[str]) -> bool:
        return is_opaque_dir(path, userxattr=self.userxattr)

    def _mknod_whiteout(self, where: ResolvedDir, name: str, entry: str) -> None:
        try:
            os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=where.fd)
        except PermissionError as exc:
            raise RootRequired(f"apply layer: write whiteout for {entry!r}: mknod needs root") from exc

    def _make_opaque(self, target: ApplyTarget, parent: ResolvedDir, name: str) -> None:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent.fd)
        try:
            self._mark(target, fd, "/".join((*parent.real, name)))
        finally:
            os.close(fd)

    def _mark(self, target: ApplyTarget, fd: int, path: str) -> None:
        os.setxattr(fd, self.xattr, b"y")
        _drop_whiteouts_below(fd)
        target.opaque_dirs.add(path)


class LiteralWhiteouts:
    """Do not interpret whiteouts: ``.wh.*`` members are extracted as ordinary files."""

    interprets = False

    def whiteout(self, target: ApplyTarget, parent: Sequence[str], name: str, entry: str) -> None:
        raise InternalError("literal whiteouts are never interpreted")

    def opaque(self, target: ApplyTarget, directory: Sequence[str], entry: str) -> None:
        raise InternalError("literal whiteouts are never interpreted")

    def replaced(self, target: ApplyTarget, parent: ResolvedDir, name: str, old: os.stat_result) -> None:
        return None


def _under(real: tuple[str, ...], opaque_dirs: set[str]) -> bool:
    return any("/".join(real[:i]) in opaque_dirs for i in range(1, len(real) + 1))


def _drop_whiteouts_below(dir_fd: int) -> None:
    """Remove 0:0 char devices anywhere below an opaque dir: they can no longer hide anything."""
    for _, _, files, fd in os.fwalk(".", dir_fd=dir_fd):
        for name in files:
            st = lstat_at(fd, name)
            if st is not None and is_whiteout_device(st):
                os.unlink(name, dir_fd=fd)


def upper_whiteouts(upper: Path) -> list[Path]:
    """Paths of the 0:0 char devices in an overlay upper dir (for diagnostics and tests)."""
    found = []
    for dirpath, _, files in os.walk(upper):
        for name in files:
            p = Path(dirpath, name)
            if is_whiteout_device(p.lstat()):
                found.append(p)
    return sorted(found)
