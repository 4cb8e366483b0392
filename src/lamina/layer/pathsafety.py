"""Tar member name normalisation and symlink-safe directory resolution inside a root.

Must not write file content or know about whiteouts: it only turns names into
components and walks directories, creating missing (or non-directory) parents
when asked.

Rules (decided from conformance README §4; where upstreams disagree the safer one wins):

* Names are relative to the layer root. A leading ``/`` is dropped (docker,
  containerd, umoci all do this); ``.`` and empty components vanish; ``..`` is
  resolved lexically, and a name that climbs above the root is refused with
  ``InvalidLayer`` (moby/go-archive and ggcr refuse; umoci would clamp to the root).
  The same applies to hardlink targets. A backslash is an ordinary character
  (Linux file names, e.g. systemd's ``\\x2d`` units), so ``..\\x`` is one name.
* While resolving a *parent* directory inside the target tree, symlinks are
  followed **inside the root**, one component at a time through ``openat`` with
  ``O_NOFOLLOW`` (never by the kernel): an absolute link target restarts at the
  root (``var/run -> /run`` lands in ``<root>/run``), a relative one is walked
  from the link's directory and refused if its ``..`` climbs above the root
  (moby: "a relative escape is not excused by a later absolute link";
  containerd would clamp instead). More than 40 links in one walk is refused.
* The last component of a name is never followed: callers replace it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lamina._internal.logs import get_logger
from lamina.errors import InvalidLayer

log = get_logger(__name__)

MAX_SYMLINK_HOPS = 40
IMPLIED_DIR_MODE = 0o755
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CACHE_LIMIT = 128

#: Called after a non-directory in the way of a parent was replaced by a new directory:
#: (the parent directory, name, stat of what was removed).
ReplacedHook = Callable[["ResolvedDir", str, os.stat_result], None]


def normalize(name: str, *, entry: str | None = None) -> str:
    """Clean a member name to ``a/b/c`` (``""`` is the root); refuse NUL and escapes above the root."""
    who = name if entry is None else entry
    if "\0" in name:
        raise InvalidLayer(f"apply layer: entry {who!r} has a NUL byte in its name", entry=who)
    parts: list[str] = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                raise InvalidLayer(f"apply layer: entry {who!r} escapes the root", entry=who)
            parts.pop()
        else:
            parts.append(comp)
    return "/".join(parts)


def clamp_absolute(target: str) -> list[str]:
    """Components of an absolute link target read as if chrooted: ``/..`` stays at the root."""
    parts: list[str] = []
    for comp in target.split("/"):
        if comp == "..":
            if parts:
                parts.pop()
        elif comp not in ("", "."):
            parts.append(comp)
    return parts


def components(path: str) -> list[str]:
    """Components of a normalised path (``[]`` for the root)."""
    return path.split("/") if path else []


def sort_key(path: str) -> tuple[str, ...]:
    """Order that puts parents before children and siblings by name (a depth-first walk)."""
    return tuple(p for p in path.strip("/").split("/") if p)


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    """``lstat`` of *name* in *dir_fd*, or None when it does not exist."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def open_dir_at(dir_fd: int, name: str) -> int | None:
    """Open *name* as a directory without following a symlink; None if it is not a directory."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP, errno.ENOENT):
            return None
        if exc.errno == errno.EACCES:  # unreadable dir as non-root: a path-only fd still walks
            return os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        raise


def make_implied_dir(dir_fd: int, name: str) -> None:
    """mkdir a missing parent with mode 0755 whatever the umask (moby/umoci behaviour)."""
    os.mkdir(name, IMPLIED_DIR_MODE, dir_fd=dir_fd)
    fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    try:
        os.fchmod(fd, IMPLIED_DIR_MODE)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class ResolvedDir:
    """An open directory inside the root and its symlink-free path from the root."""

    fd: int
    real: tuple[str, ...]

    @property
    def path(self) -> str:
        return "/".join(self.real)


class _Walk:
    """One resolution: a stack of open directories below the root."""

    def __init__(self, root_fd: int, entry: str) -> None:
        self.root_fd = root_fd
        self.entry = entry
        self.stack: list[tuple[str, int]] = []
        self.hops = 0

    @property
    def top(self) -> int:
        return self.stack[-1][1] if self.stack else self.root_fd

    def up(self) -> None:
        if not self.stack:
            raise InvalidLayer(f"apply layer: entry {self.entry!r} resolves through a symlink "
                               "outside the root", entry=self.entry)
        os.close(self.stack.pop()[1])

    def reset(self) -> None:
        while self.stack:
            os.close(self.stack.pop()[1])

    def follow(self, name: str, pending: list[str]) -> None:
        self.hops += 1
        if self.hops > MAX_SYMLINK_HOPS:
            raise InvalidLayer(f"apply layer: entry {self.entry!r}: too many levels of symbolic links",
                               entry=self.entry)
        target = os.readlink(name, dir_fd=self.top)
        if target.startswith("/"):
            self.reset()
            pending.extend(reversed(clamp_absolute(target)))
        else:
            pending.extend(reversed([c for c in target.split("/") if c not in ("", ".")]))

    def result(self) -> ResolvedDir:
        for _, fd in self.stack[:-1]:
            os.close(fd)
        return ResolvedDir(self.top, tuple(n for n, _ in self.stack))


class RootWalker:
    """Resolve directories inside *root_fd* safely, caching open fds by lexical path.

    The cache is only valid while no directory or symlink is removed or replaced:
    callers must call ``invalidate()`` after doing so. The walker owns every fd it
    returns (except the root's); ``close()`` releases them.
    """

    def __init__(self, root_fd: int, *, replaced: ReplacedHook | None = None) -> None:
        self.root_fd = root_fd
        self.replaced = replaced
        self._cache: dict[tuple[str, ...], ResolvedDir] = {}
        self._stale: list[int] = []

    def resolve(self, parts: Sequence[str], *, create: bool, entry: str) -> ResolvedDir | None:
        """The directory named by *parts*; None if missing (or not a dir) and not *create*."""
        key = tuple(parts)
        if not key:
            return ResolvedDir(self.root_fd, ())
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        found = self._walk(key, create, entry)
        if found is not None:
            if len(self._cache) >= _CACHE_LIMIT:
                self.invalidate()
            self._cache[key] = found
        return found

    def _walk(self, parts: tuple[str, ...], create: bool, entry: str) -> ResolvedDir | None:
        walk = _Walk(self.root_fd, entry)
        pending = list(reversed(parts))
        try:
            while pending:
                comp = pending.pop()
                if comp == "..":
                    walk.up()
                    continue
                fd = open_dir_at(walk.top, comp)
                if fd is None and not self._step_missing(walk, comp, pending, create):
                    walk.reset()
                    return None
                if fd is not None:
                    walk.stack.append((comp, fd))
            return walk.result()
        except BaseException:
            walk.reset()
            raise

    def _step_missing(self, walk: _Walk, comp: str, pending: list[str], create: bool) -> bool:
        """Handle a component that is not an openable directory; False means "give up"."""
        st = lstat_at(walk.top, comp)
        if st is not None and stat.S_ISLNK(st.st_mode):
            walk.follow(comp, pending)
            return True
        if not create:
            return False
        if st is not None:  # a non-directory where a parent must be: replace it (umoci "nondir")
            os.unlink(comp, dir_fd=walk.top)
        make_implied_dir(walk.top, comp)
        if st is not None and self.replaced is not None:
            self.replaced(ResolvedDir(walk.top, tuple(n for n, _ in walk.stack)), comp, st)
        fd = open_dir_at(walk.top, comp)
        assert fd is not None
        walk.stack.append((comp, fd))
        return True

    def invalidate(self) -> None:
        """Forget cached directories (after a directory or symlink was removed or replaced).

        Their fds stay open until ``release()``, so callers holding a ResolvedDir can finish.
        """
        self._stale.extend(found.fd for found in self._cache.values() if found.fd != self.root_fd)
        self._cache.clear()

    def release(self) -> None:
        """Close fds dropped by ``invalidate``; call between entries, when none is in use."""
        while self._stale:
            os.close(self._stale.pop())

    def close(self) -> None:
        self.invalidate()
        self.release()
