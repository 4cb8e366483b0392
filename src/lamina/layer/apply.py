"""Apply (extract) one uncompressed layer tar onto a directory, safely.

Must not decompress, mount, or know about drivers and stores: the caller hands an
uncompressed tar stream and a target directory, and picks the whiteout format.

Rules (image-spec ``layer.md``, docker/umoci behaviour; see conformance README §4):

* A directory entry over an existing directory merges (attributes replaced, content
  kept); any other entry first removes whatever is at its path (file→dir, dir→file,
  symlink→dir, …). Missing parents are created with mode 0755; a non-directory in
  the way of a parent is replaced by a directory.
* Names and hardlink targets are normalised by ``pathsafety``; escapes raise
  ``InvalidLayer(entry=…)`` before anything is written for that entry, and no
  symlink in the target is ever followed by the kernel. Symlinks are created
  verbatim (their targets are data). Hardlinks link the target itself, even a
  symlink, and never change its metadata.
* Ownership is applied when ``same_owner`` (default: running as root); modes
  include setuid/setgid/sticky; directories get their mode and mtime after the
  whole layer, deepest first. Devices are skipped with a warning when not root
  (umoci rootless); fifos are always made. PAX ``SCHILY.xattr.*`` records become
  xattrs, except ``trusted.overlay.*``/``user.overlay.*`` (a layer must not forge
  overlay metadata); xattrs the filesystem refuses are skipped with a warning.
* After the end-of-archive marker the stream is drained, so a digest-verifying
  wrapper sees every byte (ggcr: trailing garbage still fails the diff_id check).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lamina._internal.fsops import translate_enospc, write_all
from lamina._internal.logs import get_logger
from lamina.errors import InvalidLayer
from lamina.layer.pathsafety import (
    ResolvedDir,
    RootWalker,
    components,
    lstat_at,
    normalize,
    open_dir_at,
)
from lamina.layer.whiteout import WHITEOUT_META_PREFIX, WhiteoutFormat, classify

log = get_logger(__name__)

CHUNK = 1 << 20
XATTR_PAX_PREFIX = "SCHILY.xattr."
_FORGED_XATTRS = ("trusted.overlay.", "user.overlay.")
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyResult:
    """What one apply did: regular-file bytes written and tar members processed."""

    size: int
    entries: int


def apply_layer(stream: BinaryIO, target: Path, *, whiteouts: WhiteoutFormat,
                same_owner: bool | None = None) -> ApplyResult:
    """Extract the uncompressed layer tar *stream* onto *target* (which must exist).

    Reads *stream* to EOF but does not close it. Raises InvalidLayer naming the
    entry for hostile or malformed members; earlier members stay applied (callers
    apply into a staging directory and discard it on error).
    """
    owner = os.geteuid() == 0 if same_owner is None else same_owner
    reader = _ForwardReader(stream)
    applier = _Applier(target, whiteouts, owner, reader)
    try:
        try:
            with tarfile.open(fileobj=reader, mode="r:") as tf:  # type: ignore[call-overload]
                applier.run(tf)
        except (tarfile.TarError, EOFError) as exc:
            raise InvalidLayer(f"apply layer: read tar: {exc}", entry=applier.current) from exc
        applier.finish()
    finally:
        applier.close()
    _drain(stream)
    return ApplyResult(size=applier.size, entries=applier.entries)


@contextlib.contextmanager
def _entry_errors(entry: str) -> Iterator[None]:
    """Turn the OS errors a malformed layer provokes into InvalidLayer naming the entry."""
    try:
        with translate_enospc(entry):
            yield
    except (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
        raise InvalidLayer(f"apply layer: entry {entry!r}: {exc.strerror}", entry=entry) from exc
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.EMLINK, errno.EXDEV, errno.ENAMETOOLONG, errno.ENOTEMPTY):
            raise
        raise InvalidLayer(f"apply layer: entry {entry!r}: {exc.strerror}", entry=entry) from exc


def _drain(stream: BinaryIO) -> None:
    while stream.read(CHUNK):
        pass


class _ForwardReader:
    """A forward-only "seekable" view of a stream, so tarfile's fast random-access
    reader works on pipes and decompressors (its ``r|`` mode copies its whole buffer
    on every small read). Seeking backwards is a bug in the caller."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence != 0 or pos < self._pos:
            raise InvalidLayer(f"apply layer: read tar: cannot seek back to {pos} in a stream")
        while self._pos < pos and self.read(min(CHUNK, pos - self._pos)):
            pass
        return self._pos


class _Applier:
    """State of one apply: the safe walker, this layer's paths, deferred dir metadata."""

    def __init__(self, target: Path, whiteouts: WhiteoutFormat, same_owner: bool,
                 reader: _ForwardReader) -> None:
        self.reader = reader
        self.root_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.whiteouts = whiteouts
        self.same_owner = same_owner
        self.walker = RootWalker(self.root_fd, replaced=self._replaced)
        self.opaque_dirs: set[str] = set()
        self.layer_paths: set[str] = set()
        self.layer_ancestors: set[str] = set()
        self.dirs: dict[str, tuple[int, int]] = {}   # real path -> (mode, mtime_ns)
        self.size = 0
        self.entries = 0
        self.current: str | None = None
        self._warned: set[str] = set()

    # ------------------------------------------------------------ driving
    def run(self, tf: tarfile.TarFile) -> None:
        while (member := tf.next()) is not None:
            self.current = member.name
            self.walker.release()
            with _entry_errors(member.name):
                self.apply_member(tf, member)
            self.entries += 1
            tf.members.clear()  # type: ignore[attr-defined]  # streaming: keep memory flat

    def apply_member(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = components(normalize(m.name))
        if self.whiteouts.interprets and self._apply_whiteout(parts, m.name):
            return
        if not parts:
            if not m.isdir():
                raise InvalidLayer(f"apply layer: entry {m.name!r} would replace the root", entry=m.name)
            self.dirs[""] = (m.mode & 0o7777, _mtime_ns(m))
            return
        where = self.walker.resolve(parts[:-1], create=True, entry=m.name)
        assert where is not None
        self._create(tf, m, where, parts[-1])
        self._remember("/".join((*where.real, parts[-1])))

    def _apply_whiteout(self, parts: list[str], entry: str) -> bool:
        """Handle whiteout and AUFS metadata members; True if *entry* was one."""
        if any(p.startswith(WHITEOUT_META_PREFIX) for p in parts[:-1]):
            log.debug("skip aufs metadata entry=%s", entry)
            return True
        kind, victim = classify(parts[-1], entry) if parts else ("plain", "")
        if kind == "whiteout":
            self.whiteouts.whiteout(self, parts[:-1], victim, entry)
        elif kind == "opaque":
            self.whiteouts.opaque(self, parts[:-1], entry)
        elif kind == "meta":
            log.debug("skip aufs metadata entry=%s", entry)
        return kind != "plain"

    def _create(self, tf: tarfile.TarFile, m: tarfile.TarInfo, where: ResolvedDir, name: str) -> None:
        if m.isdir():
            self._dir(m, where, name)
        elif m.issym():
            self._symlink(m, where, name)
        elif m.islnk():
            self._hardlink(m, where, name)
        elif m.ischr() or m.isblk() or m.isfifo():
            self._node(m, where, name)
        elif m.isreg():
            self._file(tf, m, where, name)
        else:
            log.warning("apply layer: skip entry=%s of unsupported type %r", m.name, m.type)

    def _remember(self, path: str) -> None:
        self.layer_paths.add(path)
        parent = path.rpartition("/")[0]
        while parent and parent not in self.layer_ancestors:
            self.layer_ancestors.add(parent)
            parent = parent.rpartition("/")[0]

    # ------------------------------------------------------------ member kinds
    def _file(self, tf: tarfile.TarFile, m: tarfile.TarInfo, where: ResolvedDir, name: str) -> None:
        self._clear(where, name)
        fd = os.open(name, _NEW_FILE, 0o600, dir_fd=where.fd)
        try:
            if m.sparse is not None:  # GNU sparse: let tarfile expand the holes
                src = tf.extractfile(m)
                assert src is not None
                self._copy(src.read, fd, m.size)
            else:
                self.reader.seek(m.offset_data)
                self._copy(self.reader.read, fd, m.size)
            self._owner(m, fd)
            self._xattrs(m, fd)
            os.fchmod(fd, m.mode & 0o7777)
            os.utime(fd, ns=(_mtime_ns(m), _mtime_ns(m)))
        finally:
            os.close(fd)

    def _copy(self, read: Callable[[int], bytes], fd: int, size: int) -> None:
        left = size
        while left > 0:
            data = read(min(left, CHUNK))
            if not data:
                raise InvalidLayer(f"apply layer: entry {self.current!r}: unexpected end of data",
                                   entry=self.current)
            write_all(fd, memoryview(data))
            left -= len(data)
        self.size += size

    def _dir(self, m: tarfile.TarInfo, where: ResolvedDir, name: str) -> None:
        old = lstat_at(where.fd, name)
        if old is None or not stat.S_ISDIR(old.st_mode):
            if old is not None:
                self._clear(where, name, old)
            os.mkdir(name, 0o700, dir_fd=where.fd)  # final mode comes in finish()
            if old is not None:
                self.whiteouts.replaced(self, where, name, old)
        fd = open_dir_at(where.fd, name)
        assert fd is not None
        try:
            self._owner(m, fd)
            self._xattrs(m, fd)
        finally:
            os.close(fd)
        self.dirs["/".join((*where.real, name))] = (m.mode & 0o7777, _mtime_ns(m))

    def _symlink(self, m: tarfile.TarInfo, where: ResolvedDir, name: str) -> None:
        self._clear(where, name)
        os.symlink(m.linkname, name, dir_fd=where.fd)
        if self.same_owner:
            os.chown(name, m.uid, m.gid, dir_fd=where.fd, follow_symlinks=False)
        self._xattrs(m, f"/proc/self/fd/{where.fd}/{name}")
        os.utime(name, ns=(_mtime_ns(m), _mtime_ns(m)), dir_fd=where.fd, follow_symlinks=False)

    def _hardlink(self, m: tarfile.TarInfo, where: ResolvedDir, name: str) -> None:
        link = components(normalize(m.linkname, entry=m.name))
        src = self.walker.resolve(link[:-1], create=False, entry=m.name) if link else None
        src_st = lstat_at(src.fd, link[-1]) if src is not None else None
        if src is None or src_st is None:
            raise InvalidLayer(f"apply layer: hardlink {m.name!r}: target {m.linkname!r} not found",
                               entry=m.name)
        if stat.S_ISDIR(src_st.st_mode):
            raise InvalidLayer(f"apply layer: hardlink {m.name!r}: target {m.linkname!r} is a directory",
                               entry=m.name)
        old = lstat_at(where.fd, name)
        if old is not None and (old.st_dev, old.st_ino) == (src_st.st_dev, src_st.st_ino):
            return  # already that inode (a link to itself or a repeated link)
        self._clear(where, name, old)
        # linkat without AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
        os.link(link[-1], name, src_dir_fd=src.fd, dst_dir_fd=where.fd, follow_symlinks=False)

    def _node(self, m: tarfile.TarInfo, where: ResolvedDir, name: str) -> None:
        if not m.isfifo() and os.geteuid() != 0:
            self._warn(f"device:{m.name}", "apply layer: skip device entry=%s: needs root", m.name)
            return
        self._clear(where, name)
        kind = stat.S_IFIFO if m.isfifo() else stat.S_IFCHR if m.ischr() else stat.S_IFBLK
        os.mknod(name, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=where.fd)
        if self.same_owner:
            os.chown(name, m.uid, m.gid, dir_fd=where.fd, follow_symlinks=False)
        os.chmod(name, m.mode & 0o7777, dir_fd=where.fd)
        os.utime(name, ns=(_mtime_ns(m), _mtime_ns(m)), dir_fd=where.fd, follow_symlinks=False)

    # ------------------------------------------------------------ helpers
    def _clear(self, where: ResolvedDir, name: str, old: os.stat_result | None = None) -> None:
        """Remove whatever is at *name* so a non-directory (or a new dir) can take its place."""
        old = old or lstat_at(where.fd, name)
        if old is None:
            return
        if stat.S_ISDIR(old.st_mode):
            shutil.rmtree(name, dir_fd=where.fd)
        else:
            os.unlink(name, dir_fd=where.fd)
        if stat.S_ISDIR(old.st_mode) or stat.S_ISLNK(old.st_mode):
            self.walker.invalidate()

    def _owner(self, m: tarfile.TarInfo, fd: int) -> None:
        if self.same_owner:
            os.fchown(fd, m.uid, m.gid)

    def _xattrs(self, m: tarfile.TarInfo, where: int | str) -> None:
        for key, value in m.pax_headers.items():
            if not key.startswith(XATTR_PAX_PREFIX):
                continue
            attr = key[len(XATTR_PAX_PREFIX):]
            if attr.startswith(_FORGED_XATTRS):
                self._warn(f"forged:{m.name}", "apply layer: ignore xattr %s on entry=%s", attr, m.name)
                continue
            try:
                raw = value.encode("utf-8", "surrogateescape")
                if isinstance(where, int):
                    os.setxattr(where, attr, raw)
                else:
                    os.setxattr(where, attr, raw, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES):
                    raise
                self._warn(f"xattr:{attr}", "apply layer: cannot set xattr %s (entry=%s): %s",
                           attr, m.name, exc.strerror)

    def _warn(self, key: str, msg: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(msg, *args)

    def _replaced(self, parent: ResolvedDir, name: str, old: os.stat_result) -> None:
        self.whiteouts.replaced(self, parent, name, old)

    # ------------------------------------------------------------ ApplyTarget protocol
    def invalidate(self) -> None:
        self.walker.invalidate()

    def remove_lower(self, where: ResolvedDir, name: str, entry: str) -> None:
        """Delete *name* in *where* (files, whole dirs, symlinks — not their targets),
        sparing what this layer created; the parent's atime/mtime are kept."""
        old = lstat_at(where.fd, name)
        if old is None:
            return
        times = os.stat(where.fd)
        path = "/".join((*where.real, name))
        if path in self.layer_paths or path in self.layer_ancestors:
            self._remove_sparing(where.fd, name, path, old)
        else:
            self._clear(where, name, old)
        self.walker.invalidate()
        os.utime(where.fd, ns=(times.st_atime_ns, times.st_mtime_ns))

    def _remove_sparing(self, dir_fd: int, name: str, path: str, st: os.stat_result) -> bool:
        """Remove the lower-layer part of *name*; True if *name* itself went away."""
        mine = path in self.layer_paths
        if not stat.S_ISDIR(st.st_mode):
            if not mine:
                os.unlink(name, dir_fd=dir_fd)
            return not mine
        fd = open_dir_at(dir_fd, name)
        assert fd is not None
        try:
            kept = False
            for child in os.listdir(fd):
                child_st = lstat_at(fd, child)
                if child_st is not None:
                    kept |= not self._remove_sparing(fd, child, f"{path}/{child}", child_st)
        finally:
            os.close(fd)
        if mine or kept:
            return False
        os.rmdir(name, dir_fd=dir_fd)
        return True

    # ------------------------------------------------------------ end
    def finish(self) -> None:
        """Set directory modes and mtimes, deepest first, now that their content is final."""
        self.walker.invalidate()
        self.walker.release()
        for path in sorted(self.dirs, key=lambda p: p.count("/") + bool(p), reverse=True):
            fd = self._open_real(components(path))
            if fd is None:
                continue  # replaced or removed later in the same layer
            try:
                mode, mtime = self.dirs[path]
                os.fchmod(fd, mode)
                os.utime(fd, ns=(mtime, mtime))
            finally:
                if fd != self.root_fd:
                    os.close(fd)

    def _open_real(self, parts: Sequence[str]) -> int | None:
        """Open a symlink-free path component by component with O_NOFOLLOW."""
        fd = self.root_fd
        for comp in parts:
            nxt = open_dir_at(fd, comp)
            if fd != self.root_fd:
                os.close(fd)
            if nxt is None:
                return None
            fd = nxt
        return fd

    def close(self) -> None:
        self.walker.close()
        os.close(self.root_fd)


def _mtime_ns(m: tarfile.TarInfo) -> int:
    return round(m.mtime * 1_000_000_000) if isinstance(m.mtime, float) else int(m.mtime) * 1_000_000_000
