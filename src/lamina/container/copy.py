"""``cp`` between a container's mounted rootfs and the host, and path resolution inside a rootfs.

Must not mount anything or know about records: callers pass the mounted rootfs path.
Every container path is resolved by ``resolve_in_root``, which follows symlinks the way
the kernel would inside a chroot (absolute targets restart at the rootfs, ``..`` stops
at it), so no symlink in the image can point a copy at the host. Writes go through the
mounted (overlay) view, so the kernel copies files up into the rw layer.

Both directions move a tar stream (docker's model): copying out writes a tar of the
source (never dereferencing symlinks) and extracts it at the destination; copying in
extracts with tarfile's ``tar`` filter, which refuses members that would land outside
the destination directory.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

from lamina._internal.fsops import resolve_in_root
from lamina.errors import InvalidOption, PathNotFound


def _split_contents(path: str) -> tuple[str, bool]:
    """("dir", True) for "dir/." (copy the contents), else (path, False)."""
    if path.endswith("/.") or path == ".":
        return path[:-2] or "/", True
    return path, False


def _tar_source(source: Path, arcname: str, out: BinaryIO, *, contents: bool) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if contents and source.is_dir():
            for child in sorted(os.listdir(source)):
                tar.add(source / child, arcname=child, recursive=True)
        else:
            tar.add(source, arcname=arcname, recursive=True)


def _extract(stream: BinaryIO, dest_dir: Path) -> None:
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        for member in tar:
            tar.extract(member, dest_dir, filter="tar")


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


def copy_out(rootfs: Path, container_path: str, dest: str | BinaryIO) -> None:
    """Copy *container_path* out to host path *dest* (a str: "dir/." means its contents), or as a
    tar stream when *dest* is a file object."""
    path, contents = _split_contents(container_path)
    source = resolve_in_root(rootfs, path, follow_last=contents or path.endswith("/"))
    if not source.exists() and not source.is_symlink():
        raise PathNotFound(container_path, f"could not find the file {container_path} in container")
    name = posixpath.basename(path.rstrip("/")) or "."
    if not isinstance(dest, str):
        _tar_source(source, name, dest, contents=contents)
        return
    dest_path = os.path.abspath(dest)
    parent, final = _target(Path(dest_path), name, source_is_dir=source.is_dir(), contents=contents)
    with tempfile.TemporaryFile() as tmp:
        _tar_source(source, final or name, tmp, contents=contents or not final)
        tmp.seek(0)
        _extract(tmp, parent)


def copy_in(rootfs: Path, source: str | BinaryIO, container_path: str) -> None:
    """Copy host path *source* (or a tar stream) into the container at *container_path*."""
    path, contents_dest = _split_contents(container_path)
    dest = resolve_in_root(rootfs, path)
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
