"""``cp`` between a container's mounted rootfs and the host, and path resolution inside a rootfs.

Must not mount anything or know about records: callers pass the mounted rootfs path and the
container's mounts. Every container path is resolved by ``resolve_in_root``, which follows
symlinks the way the kernel would inside a chroot (absolute targets restart at the rootfs,
``..`` stops at it), so no symlink in the image can point a copy at the host; a path inside a
volume or bind mount resolves into that mount's host directory (the deepest one wins), as the
container sees it. Writes go through the mounted (overlay) view, so the kernel copies files up
into the rw layer. A directory copied out includes what the volumes and binds mounted below it
hold, as the container sees them (a tmpfs below it is invisible from outside and copies as its
empty mount point).

Both directions move a tar stream (docker's model): copying out writes a tar of the
source (never dereferencing symlinks) and extracts it at the destination; copying in
extracts with tarfile's ``tar`` filter (``lamina.layer.untar``), which refuses members that would land outside
the destination directory.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple

from lamina._internal.fsops import deepest_mount, resolve_in_root
from lamina.errors import InvalidOption, PathNotFound
from lamina.layer.untar import extract_all


class MountPoint(NamedTuple):
    """A container mount as ``cp`` sees it: in-container destination, host directory (None: tmpfs)."""

    destination: str
    source: Path | None
    read_only: bool = False


def _resolve(rootfs: Path, mounts: Sequence[MountPoint], path: str, *, follow_last: bool = True,
             writing: bool = False) -> Path:
    holder = deepest_mount(path, (m.destination for m in mounts))
    if any(m.destination == holder and m.source is None for m in mounts):
        raise InvalidOption(f"copy {'to' if writing else 'from'} {path}: it is in a tmpfs mount, which only the "
                            "container can see")
    pairs = [(m.destination, m.source) for m in mounts if m.source is not None]
    resolved = resolve_in_root(rootfs, path, follow_last=follow_last, mounts=pairs)
    for mount in mounts:   # the resolved path: a symlink may lead into a read-only mount
        if writing and mount.read_only and mount.source is not None and resolved.is_relative_to(mount.source):
            raise InvalidOption(f"copy to {path}: mounted volume {mount.destination} is marked read-only")
    return resolved


def _split_contents(path: str) -> tuple[str, bool]:
    """("dir", True) for "dir/." (copy the contents), else (path, False)."""
    if path.endswith("/.") or path == ".":
        return path[:-2] or "/", True
    return path, False


def _tar_source(source: Path, arcname: str, out: BinaryIO, *, contents: bool,
                container_path: str = "", nested: dict[str, Path] | None = None) -> None:
    """A tar of *source*; below *container_path*, a directory that is a mount point of *nested*
    (container path -> host directory) contributes what that mount holds, as the container sees it."""
    inner = nested or {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if contents and source.is_dir():
            for child in sorted(os.listdir(source)):
                where = posixpath.join(container_path, child)
                _add(tar, inner.get(where, source / child), child, where, inner)
        else:
            _add(tar, source, arcname, container_path, inner)


def _add(tar: tarfile.TarFile, host: Path, arcname: str, container_path: str, nested: dict[str, Path]) -> None:
    if not nested:
        tar.add(host, arcname=arcname, recursive=True)
        return
    tar.add(host, arcname=arcname, recursive=False)
    if host.is_dir() and not host.is_symlink():
        for child in sorted(os.listdir(host)):
            where = posixpath.join(container_path, child)
            _add(tar, nested.get(where, host / child), f"{arcname}/{child}", where, nested)


def _container_path(path: str) -> str:
    """An absolute, normalised container path ("//x" would stay "//x" with normpath alone)."""
    return posixpath.normpath("/" + path.lstrip("/"))


def _nested_mounts(path: str, mounts: Sequence[MountPoint]) -> dict[str, Path]:
    """The host directories of the mounts strictly below container *path* (tmpfs ones cannot be read)."""
    top = _container_path(path).rstrip("/") + "/"
    return {_container_path(m.destination): m.source for m in mounts
            if m.source is not None and _container_path(m.destination).startswith(top)}


def _extract(stream: BinaryIO, dest_dir: Path) -> None:
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        extract_all(tar, dest_dir)


def _target(dest: Path, name: str, *, source_is_dir: bool, contents: bool) -> tuple[Path, str]:
    """docker's rule: an existing directory receives ``name``; otherwise *dest* is the new name."""
    if contents:
        dest.mkdir(exist_ok=True)
        return dest, ""
    if dest.is_dir() and not dest.is_symlink():
        return dest, name
    if not dest.parent.is_dir():
        raise PathNotFound(str(dest.parent), f"copy to {dest}: no such directory: {dest.parent}")
    if not source_is_dir and dest.exists() and not dest.is_file():
        raise InvalidOption(f"copy to {dest}: cannot overwrite a non-file with a file")
    return dest.parent, dest.name


def copy_out(rootfs: Path, container_path: str, dest: str | BinaryIO, mounts: Sequence[MountPoint] = ()) -> None:
    """Copy *container_path* out to host path *dest* (a str: "dir/." means its contents), or as a
    tar stream when *dest* is a file object."""
    path, contents = _split_contents(container_path)
    source = _resolve(rootfs, mounts, path, follow_last=contents or path.endswith("/"))
    if not source.exists() and not source.is_symlink():
        raise PathNotFound(container_path, f"could not find the file {container_path} in container")
    name = posixpath.basename(path.rstrip("/")) or "."
    where, nested = _container_path(path), _nested_mounts(path, mounts)
    if not isinstance(dest, str):
        _tar_source(source, name, dest, contents=contents, container_path=where, nested=nested)
        return
    dest_path = os.path.abspath(dest)
    parent, final = _target(Path(dest_path), name, source_is_dir=source.is_dir(), contents=contents)
    with tempfile.TemporaryFile() as tmp:
        _tar_source(source, final or name, tmp, contents=contents or not final, container_path=where,
                    nested=nested)
        tmp.seek(0)
        _extract(tmp, parent)


def copy_in(rootfs: Path, source: str | BinaryIO, container_path: str, mounts: Sequence[MountPoint] = ()) -> None:
    """Copy host path *source* (or a tar stream) into the container at *container_path*."""
    path, contents_dest = _split_contents(container_path)
    dest = _resolve(rootfs, mounts, path, writing=True)
    if not isinstance(source, str):
        if not dest.is_dir():
            raise PathNotFound(container_path, f"copy to {container_path}: destination must be a directory "
                                               "when copying from a tar stream")
        _extract(source, dest)
        return
    src_path, contents = _split_contents(source)
    src = Path(src_path)
    if not src.exists() and not src.is_symlink():
        raise PathNotFound(str(source), f"stat {source}: no such file or directory")
    is_dir = stat.S_ISDIR(src.lstat().st_mode)
    parent, final = _target(dest, src.name, source_is_dir=is_dir, contents=contents or (contents_dest and is_dir))
    with tempfile.TemporaryFile() as tmp:
        _tar_source(src, final or src.name, tmp, contents=contents or not final)
        tmp.seek(0)
        _extract(tmp, parent)
