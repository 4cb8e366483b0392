"""Atomic file writes and safe path joins.

Must not know about images, layers or blobs: only bytes, paths and fsync.

``atomic_write`` writes a temp file beside the target, fsyncs it, renames it over
the target and fsyncs the directory, so a crash leaves either the old or the
new content, never a mix. ENOSPC is translated to ``NoSpace`` naming the path.
``DirectAppender`` writes a large write-once file around the page cache (O_DIRECT);
``spread_subdirs`` asks ext4 to spread a directory's subdirectories over block groups.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from lamina.errors import InvalidArgument, NoSpace

TYPE_CHECKING = False
if TYPE_CHECKING:
    import mmap
    from typing import BinaryIO


def fsync_dir(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def translate_enospc(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn ENOSPC/EDQUOT into ``NoSpace`` naming *path*."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NoSpace(str(path)) from exc
        raise


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: int = 0o644, *, durable: bool = True) -> Iterator[BinaryIO]:
    """Yield a file whose content replaces *path* atomically when the block ends without error.

    ``durable=False`` skips the two fsyncs: the rename is still atomic for readers and against a
    killed process, but not against power loss. For per-boot or throw-away records (container
    state, bundles), where an fsync per write is most of a ``run --rm``'s own cost.
    """
    target = Path(path)
    tmp = target.with_name(f".tmp-{target.name}-{os.urandom(4).hex()}")
    try:
        with translate_enospc(target), open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), mode)
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, target)
        if durable:
            fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o644, *, durable: bool = True) -> None:
    """Replace *path* with *data* atomically (tmp + fsync + rename + fsync dir; see ``atomic_writer``)."""
    with atomic_writer(path, mode, durable=durable) as f:
        f.write(data)


def which(name: str) -> str | None:
    """The absolute path of executable *name* on $PATH (or *name* itself when it has a slash)."""
    if "/" in name:
        return os.path.abspath(name) if os.access(name, os.X_OK) and not os.path.isdir(name) else None
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return os.path.abspath(candidate)
    return None


_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"


def is_plain_name(text: str, max_len: int) -> bool:
    """``[A-Za-z0-9][A-Za-z0-9_.-]*``, at most *max_len* long: safe as one directory name (string
    methods, not a regex: compiling one costs start-up)."""
    return 0 < len(text) <= max_len and text[0].isascii() and text[0].isalnum() and not text.strip(_NAME_CHARS)


def safe_join(root: str | os.PathLike[str], name: str) -> Path:
    """Join a relative, normalised *name* under *root*; refuse absolute names and ``..``.

    Does not resolve symlinks: callers that write must also refuse symlinked parents.
    """
    if name.startswith("/") or "\0" in name:
        raise InvalidArgument(f"path {name!r} escapes {root}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArgument(f"path {name!r} escapes {root}")
    return Path(root, *parts)


def rmtree(path: str | os.PathLike[str]) -> None:
    """Remove a tree if it exists, making read-only dirs writable on the way.

    The common case is the os.fwalk loop the ``os`` docs give (bottom-up, by directory fd, never
    following a symlink); anything it cannot remove goes to shutil.rmtree with the chmod retry.
    Importing shutil (with bz2, lzma, fnmatch) costs ~1.5 ms, a few % of ``run --rm``.
    """
    if not os.path.lexists(path):
        return
    try:
        _remove_tree(path)
    except OSError:
        _rmtree_stubborn(path)


def _remove_tree(path: str | os.PathLike[str]) -> None:
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
        return
    for _, dirs, files, dir_fd in os.fwalk(path, topdown=False):
        for name in files:
            os.unlink(name, dir_fd=dir_fd)
        for name in dirs:
            try:
                os.rmdir(name, dir_fd=dir_fd)
            except NotADirectoryError:  # a symlink to a directory: fwalk lists it, never enters it
                os.unlink(name, dir_fd=dir_fd)
    os.rmdir(path)


def _rmtree_stubborn(path: str | os.PathLike[str]) -> None:
    import shutil

    def onexc(func: object, p: str, exc: BaseException) -> None:
        if isinstance(exc, FileNotFoundError):
            return
        parent = os.path.dirname(p)
        os.chmod(parent, 0o700)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)
    if os.path.lexists(path):
        shutil.rmtree(path, onerror=lambda f, p, e: onexc(f, p, e[1]))


def move_to_trash(path: str | os.PathLike[str], trash: str | os.PathLike[str]) -> Path:
    """Rename *path* into *trash* (same filesystem) and return the new location; rmtree it later."""
    os.makedirs(trash, exist_ok=True)
    dest = Path(trash, f"{Path(path).name}-{os.urandom(4).hex()}")
    os.rename(path, dest)
    return dest


MAX_SYMLINKS = 40


def resolve_in_root(root: Path, path: str, *, follow_last: bool = True,
                    mounts: Sequence[tuple[str, Path]] = ()) -> Path:
    """Host path of the in-root absolute *path* under *root*, following symlinks without leaving *root*.

    ``..`` stops at the root and absolute link targets restart at it, as a chroot would see them;
    the last component is followed only when *follow_last*. *mounts* are (in-root destination, host
    directory) pairs mounted over the root, as a container sees its volumes and binds: the deepest
    one holding a path decides where it lives. Raises InvalidArgument on a link loop.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    hops = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        candidate = _host_path(root, [*done, name], mounts)
        if os.path.islink(candidate) and (parts or follow_last):
            hops += 1
            if hops > MAX_SYMLINKS:
                raise InvalidArgument(f"resolve {path}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        done.append(name)
    return _host_path(root, done, mounts)


def deepest_mount(path: str, destinations: Iterable[str]) -> str | None:
    """Which of the mount *destinations* holds the absolute in-root *path* (the deepest one), if any."""
    inner = _absolute(path)
    best: tuple[str, str] | None = None   # (as given, normalised)
    for dest in destinations:
        norm = _absolute(dest)
        held = inner == norm or inner.startswith(norm.rstrip("/") + "/")
        if held and (best is None or len(norm) > len(best[1])):
            best = (dest, norm)
    return best[0] if best else None


def _absolute(path: str) -> str:
    return posixpath.normpath("/" + path.lstrip("/"))   # normpath keeps a leading "//"


def _host_path(root: Path, parts: Sequence[str], mounts: Sequence[tuple[str, Path]]) -> Path:
    """Where the in-root path *parts* lives: under the deepest mount holding it, else under *root*."""
    inner = "/" + "/".join(parts)
    dest = deepest_mount(inner, (d for d, _ in mounts))
    if dest is None:
        return root.joinpath(*parts)
    source = next(s for d, s in mounts if d == dest)
    rest = inner[len(_absolute(dest)):].strip("/")
    return source.joinpath(rest) if rest else source


DIRECT_CHUNK = 1 << 20   # O_DIRECT writes are whole multiples of this, from a page-aligned buffer
_DIRECT_BUFFERS = 3      # chunks in flight: one filling, the others queued for or in the write


class DirectAppender:
    """Appends to a new file's descriptor with ``O_DIRECT``, so the bytes never enter the page cache.

    For large write-once files that nobody reads back soon (a layer blob a build just made): on a
    VM whose memory is backed lazily, filling fresh page-cache pages costs several times the copy
    itself, and the caller syncs the file anyway. Bytes are staged in page-aligned buffers and
    written in whole ``DIRECT_CHUNK``s at aligned offsets by a thread of its own (an O_DIRECT
    write waits for the device, so the caller keeps producing meanwhile); ``finish`` writes the
    tail without ``O_DIRECT``. Where the file system refuses ``O_DIRECT`` (tmpfs), or refuses a
    write, the rest goes through plain writes: same bytes, only the caching differs. The caller
    still fsyncs, and calls ``finish`` or ``close`` before closing the descriptor; other readers
    see the staged bytes only after ``finish``. A write error is raised by the next ``write`` or
    by ``finish``.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.direct = _set_direct(fd, True)
        self._buf: mmap.mmap | None = None
        self._used = 0
        self._error: BaseException | None = None
        if self.direct:
            self._start()

    def _start(self) -> None:
        import mmap
        import queue
        import threading
        self._free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
        self._full: queue.SimpleQueue[mmap.mmap | None] = queue.SimpleQueue()
        for _ in range(_DIRECT_BUFFERS):
            self._free.put(mmap.mmap(-1, DIRECT_CHUNK))
        self._thread = threading.Thread(target=self._drain, name="direct-write", daemon=True)
        self._thread.start()
        self._buf = self._free.get()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        if self._buf is None:
            write_all(self.fd, view)
            return
        while view:
            n = min(len(view), DIRECT_CHUNK - self._used)
            self._buf[self._used:self._used + n] = view[:n]
            self._used += n
            view = view[n:]
            if self._used == DIRECT_CHUNK:
                self._send()

    def _send(self) -> None:
        assert self._buf is not None
        if self._error is not None:
            raise self._error
        self._full.put(self._buf)
        self._buf, self._used = self._free.get(), 0

    def _drain(self) -> None:
        """The writing thread: full chunks in order; after an error it only hands buffers back."""
        while (buf := self._full.get()) is not None:
            try:
                if self._error is None:
                    self._write_chunk(buf)
            except BaseException as exc:
                self._error = exc
            self._free.put(buf)

    def _write_chunk(self, buf: mmap.mmap) -> None:
        written = 0
        if self.direct:
            try:
                written = os.write(self.fd, buf)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
            if written != DIRECT_CHUNK:   # refused or short: the rest goes through the page cache
                _set_direct(self.fd, False)
                self.direct = False
        write_all(self.fd, memoryview(buf)[written:])

    def _stop(self) -> None:
        if self._buf is not None:
            self._full.put(None)
            self._thread.join()

    def finish(self) -> None:
        """Wait for the queued chunks, write the staged tail (plainly: not a whole aligned chunk); idempotent."""
        if self._buf is None:
            return
        self._stop()
        tail, used = self._buf, self._used
        self._buf, self._used = None, 0
        if self._error is not None:
            raise self._error
        if self.direct:
            _set_direct(self.fd, False)
            self.direct = False
        write_all(self.fd, memoryview(tail)[:used])

    def close(self) -> None:
        """Give up: stop the writing thread (chunks it has not written are dropped); idempotent."""
        self._stop()
        self._buf = None


def _set_direct(fd: int, on: bool) -> bool:
    import fcntl
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
    except OSError:
        return False
    return on


def write_all(fd: int, view: memoryview) -> None:
    """``os.write`` until all of ``view`` is written (a write may be short)."""
    while view:
        written = os.write(fd, view)
        view = view[written:]


_FS_IOC_GETFLAGS, _FS_IOC_SETFLAGS = 0x80086601, 0x40086602   # linux/fs.h on 64-bit
_FS_TOPDIR_FL = 0x00020000


def spread_subdirs(path: str | os.PathLike[str]) -> bool:
    """Mark the directory ``path`` as the top of independent hierarchies (``chattr +T``); True if set.

    ext4's Orlov allocator then places each new subdirectory (a layer) in a block group of its own
    choosing instead of beside its siblings, which keeps new layers off the inodes that removed
    layers just freed. That matters on ext4 without a journal (these machines' root file system):
    there inode allocation skips inodes deleted in the last minutes, one inode-table lookup each,
    so creating thousands of files right after removing thousands (a build after ``builder
    prune``, or after ``rmi``) took 1-2 s instead of 0.5 s, measured. Other file systems ignore
    the flag or refuse it (False); nothing else changes.
    """
    import fcntl
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:   # the kernel reads and writes an int, whatever the ioctl number says
        flags = int.from_bytes(fcntl.ioctl(fd, _FS_IOC_GETFLAGS, bytes(4)), sys.byteorder, signed=True)
        if not flags & _FS_TOPDIR_FL:
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, (flags | _FS_TOPDIR_FL).to_bytes(4, sys.byteorder, signed=True))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
