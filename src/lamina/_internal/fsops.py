"""Atomic file writes and safe path joins.

Must not know about images, layers or blobs: only bytes, paths and fsync.

``atomic_write`` writes a temp file beside the target, fsyncs it, renames it over
the target and fsyncs the directory, so a crash leaves either the old or the
new content, never a mix. ENOSPC is translated to ``NoSpace`` naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lamina.errors import InvalidArgument, NoSpace


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
    """Remove a tree if it exists, making read-only dirs writable on the way."""
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


def resolve_in_root(root: Path, path: str, *, follow_last: bool = True) -> Path:
    """Host path of the in-root absolute *path* under *root*, following symlinks without leaving *root*.

    ``..`` stops at the root and absolute link targets restart at it, as a chroot would see them;
    the last component is followed only when *follow_last*. Raises InvalidArgument on a link loop.
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
        candidate = root.joinpath(*done, name)
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
    return root.joinpath(*done)
