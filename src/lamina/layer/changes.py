"""Filesystem changes between two trees, or recorded in an overlay upper dir.

Must not write anything: it only reads trees and returns sorted ``Change`` lists
that ``tarwriter.write_changes`` turns into a layer.

Comparison (moby go-archive ``changes.go``): type, mode, uid, gid, device number,
symlink target and xattrs (``*.overlay.*`` ignored); for non-directories also size
and mtime. An mtime matches when the seconds agree and the nanoseconds agree or
either side has none (a tar round trip keeps whole seconds only). A directory
whose only difference is its mtime (or size) is not a change; a directory that
directly gains or loses an entry is reported as modified. A removed directory is
one ``D``; a new directory is ``A`` with every entry below it also ``A``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lamina.layer.pathsafety import sort_key
from lamina.layer.whiteout import (
    OPAQUE,
    WHITEOUT_META_PREFIX,
    WHITEOUT_PREFIX,
    is_opaque_dir,
    is_whiteout_device,
)

_IGNORED_XATTRS = ("trusted.overlay.", "user.overlay.")
_NS = 1_000_000_000


class ChangeKind(StrEnum):
    ADD = "A"      # the path is new
    MODIFY = "C"   # the path exists on both sides and differs (or gained/lost direct children)
    DELETE = "D"   # the path (and anything below it) is gone


@dataclass(frozen=True, slots=True)
class Change:
    """One change; *path* is absolute-style (``/etc/passwd``)."""

    kind: ChangeKind
    path: str

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


def sort_changes(changes: list[Change]) -> list[Change]:
    """Parents before children, siblings by name (the order a layer tar uses)."""
    return sorted(changes, key=lambda c: sort_key(c.path))


def read_xattrs(path: str | os.PathLike[str]) -> dict[str, bytes]:
    """All xattrs of *path* (not following a symlink), minus overlay bookkeeping ones."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
            return {}
        raise
    out = {}
    for name in names:
        if name.startswith(_IGNORED_XATTRS):
            continue
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.ENODATA, errno.EPERM, errno.ENOTSUP):
                raise
    return out


def same_mtime(a_ns: int, b_ns: int) -> bool:
    """Seconds equal, and nanoseconds equal or missing on one side (moby ``sameFsTime``)."""
    a_s, a_n = divmod(a_ns, _NS)
    b_s, b_n = divmod(b_ns, _NS)
    return a_s == b_s and (a_n == b_n or a_n == 0 or b_n == 0)


def _differs(old: str, ost: os.stat_result, new: str, nst: os.stat_result) -> bool:
    if (ost.st_mode, ost.st_uid, ost.st_gid) != (nst.st_mode, nst.st_uid, nst.st_gid):
        return True
    kind = stat.S_IFMT(nst.st_mode)
    if kind != stat.S_IFDIR and (ost.st_size != nst.st_size or not same_mtime(ost.st_mtime_ns,
                                                                               nst.st_mtime_ns)):
        return True
    if kind == stat.S_IFLNK and os.readlink(old) != os.readlink(new):
        return True
    if kind in (stat.S_IFCHR, stat.S_IFBLK) and ost.st_rdev != nst.st_rdev:
        return True
    return read_xattrs(old) != read_xattrs(new)


def _entries(path: str | None) -> dict[str, os.DirEntry[str]]:
    if path is None:
        return {}
    with os.scandir(path) as it:
        return {e.name: e for e in it}


def changes_between(old: Path | None, new: Path) -> list[Change]:
    """Changes that turn tree *old* (None: empty) into tree *new*, sorted parents first."""
    out: list[Change] = []
    _diff_dir(None if old is None else str(old), str(new), "", out)
    return sort_changes(out)


def _diff_dir(old: str | None, new: str, rel: str, out: list[Change]) -> bool:
    """Append changes below one directory pair; True if an entry was directly added or removed."""
    olds, news = _entries(old), _entries(new)
    direct = False
    for name in sorted(olds.keys() | news.keys()):
        path = f"{rel}/{name}"
        o, n = olds.get(name), news.get(name)
        if n is None:
            out.append(Change(ChangeKind.DELETE, path))
            direct = True
            continue
        nst = n.stat(follow_symlinks=False)
        if o is None:
            out.append(Change(ChangeKind.ADD, path))
            direct = True
            if stat.S_ISDIR(nst.st_mode):
                _diff_dir(None, n.path, path, out)
            continue
        ost = o.stat(follow_symlinks=False)
        changed = _differs(o.path, ost, n.path, nst)
        if stat.S_ISDIR(nst.st_mode):
            both = stat.S_ISDIR(ost.st_mode)
            changed |= _diff_dir(o.path if both else None, n.path, path, out)
        if changed:
            out.append(Change(ChangeKind.MODIFY, path))
    return direct


# ---------------------------------------------------------------- overlay upper dirs
def overlay_changes(upper: Path, lowers: Sequence[Path] | None = None, *,
                    userxattr: bool = False) -> list[Change]:
    """Changes recorded in an overlay upper dir, sorted parents first.

    0:0 char devices (and, for AUFS-style uppers, ``.wh.NAME`` files) are ``D``.
    *lowers* (topmost first, each an overlay upper or a plain tree) decide ``A``
    versus ``C`` and drop whiteouts of names no lower has (docker does not emit
    those); with ``lowers=None`` everything is ``A`` and every whiteout is kept. An
    opaque directory is reported (``C`` over a lower dir); ``write_changes(...,
    upper=upper)`` then emits its ``.wh..wh..opq``.
    """
    out: list[Change] = []
    _walk_upper(_UpperScan(lowers, userxattr), str(upper), "", False, out)
    return sort_changes(out)


@dataclass(frozen=True, slots=True)
class _UpperScan:
    lowers: Sequence[Path] | None
    userxattr: bool

    def lower(self, path: str, hidden: bool) -> os.stat_result | None:
        if hidden or self.lowers is None:
            return None
        return lower_lookup(self.lowers, path, userxattr=self.userxattr)

    def keeps_whiteout(self, path: str, hidden: bool) -> bool:
        return self.lowers is None or self.lower(path, hidden) is not None


def _walk_upper(scan: _UpperScan, directory: str, rel: str, hidden: bool, out: list[Change]) -> bool:
    """*hidden*: the lower view is hidden here (new or opaque dir), so all is ``A``."""
    direct = False
    for name, entry in sorted(_entries(directory).items()):
        st = entry.stat(follow_symlinks=False)
        victim = _whiteout_victim(name, st)
        if victim is not None:
            path = f"{rel}/{victim}"
            if victim and scan.keeps_whiteout(path, hidden):
                out.append(Change(ChangeKind.DELETE, path))
                direct = True
            continue
        direct |= _upper_entry(scan, entry, st, f"{rel}/{name}", hidden, out)
    return direct


def _upper_entry(scan: _UpperScan, entry: os.DirEntry[str], st: os.stat_result, path: str,
                 hidden: bool, out: list[Change]) -> bool:
    """Report one non-whiteout upper entry; True if it is an addition."""
    lower = scan.lower(path, hidden)
    is_dir = stat.S_ISDIR(st.st_mode)
    if lower is None:
        out.append(Change(ChangeKind.ADD, path))
        if is_dir:
            _walk_upper(scan, entry.path, path, True, out)
        return True
    if not (is_dir and stat.S_ISDIR(lower.st_mode)):
        out.append(Change(ChangeKind.MODIFY, path))
        if is_dir:
            _walk_upper(scan, entry.path, path, True, out)
        return False
    opaque = is_opaque_dir(entry.path, userxattr=scan.userxattr) or _has_aufs_opaque(entry.path)
    changed = opaque or (st.st_mode, st.st_uid, st.st_gid) != (lower.st_mode, lower.st_uid, lower.st_gid)
    changed |= _walk_upper(scan, entry.path, path, opaque, out)
    if changed:
        out.append(Change(ChangeKind.MODIFY, path))
    return False


def _whiteout_victim(name: str, st: os.stat_result) -> str | None:
    """The deleted name for a whiteout entry, "" for other AUFS metadata, None otherwise."""
    if is_whiteout_device(st):
        return name
    if name.startswith(WHITEOUT_META_PREFIX):
        return ""
    if name.startswith(WHITEOUT_PREFIX) and stat.S_ISREG(st.st_mode):
        return name[len(WHITEOUT_PREFIX):]
    return None


def _has_aufs_opaque(directory: str) -> bool:
    return os.path.lexists(os.path.join(directory, OPAQUE))


def lower_lookup(lowers: Sequence[Path], path: str, *, userxattr: bool = False) -> os.stat_result | None:
    """Stat of *path* in the merged view of overlay *lowers* (topmost first), or None.

    Honours whiteout devices and opaque directories in the lowers; a non-directory
    in a higher layer hides directories below it, as overlayfs does.
    """
    parts = [p for p in path.split("/") if p]
    for lower in lowers:
        found, stop = _lookup_one(lower, parts, userxattr)
        if found is not None or stop:
            return found
    return None


def _lookup_one(lower: Path, parts: list[str], userxattr: bool) -> tuple[os.stat_result | None, bool]:
    """(stat, stop): stop means lower layers below this one cannot contribute."""
    current = str(lower)
    opaque = False
    for i, comp in enumerate(parts):
        current = os.path.join(current, comp)
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return None, opaque
        if is_whiteout_device(st):
            return None, True
        if i == len(parts) - 1:
            return st, True
        if not stat.S_ISDIR(st.st_mode):
            return None, True
        opaque = opaque or is_opaque_dir(current, userxattr=userxattr)
    return None, opaque
