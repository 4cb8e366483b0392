"""Extract a whole tar (build contexts, ``cp`` into a container) with PEP 706's ``tar`` filter, on
every Python 3.11.

``tarfile``'s extraction filters arrived in 3.11.4; Debian 12 ships 3.11.2, where passing
``filter=`` is a TypeError. There the same rules are applied here before each member is
extracted: a leading ``/`` is dropped, a member that would land outside the destination (after
resolving symlinks already on disk) is refused, and setuid/setgid/sticky and group/other write
bits are cleared. Either way a refused member raises ``tarfile.TarError`` naming it.

Must not be used for image layers: ``lamina.layer.apply`` applies those (whiteouts, ownership,
special files, symlinks resolved inside the root).
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterable, Iterator

_HAS_FILTERS = hasattr(tarfile, "tar_filter")


def extract_all(tar: tarfile.TarFile, dest: str | os.PathLike[str], *, trusted: bool = False) -> None:
    """Extract every member of *tar* (a stream or a file) below *dest*; *trusted* skips the filter."""
    if _HAS_FILTERS:
        tar.extractall(dest, filter="fully_trusted" if trusted else "tar")
    elif trusted:
        tar.extractall(dest)
    else:
        tar.extractall(dest, members=_filtered(tar, os.path.realpath(dest)))


def _filtered(members: Iterable[tarfile.TarInfo], dest: str) -> Iterator[tarfile.TarInfo]:
    for member in members:
        yield tar_filter(member, dest)


def tar_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """PEP 706's ``tar`` filter for a Python without it: *member*, renamed and re-moded, or TarError."""
    name = member.name.lstrip("/")
    if os.path.isabs(name):
        raise tarfile.TarError(f"refusing tar member {member.name!r}: absolute path")
    target = os.path.realpath(os.path.join(dest, name))
    if os.path.commonpath([target, dest]) != dest:
        raise tarfile.TarError(f"refusing tar member {member.name!r}: it would be extracted to {target}, "
                               f"outside {dest}")
    member.name = name
    if member.mode is not None:
        member.mode &= 0o755
    return member
