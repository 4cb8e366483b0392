"""Declarative file trees for tests: build them on disk, or as layer tars with OCI whiteouts.

Must not be imported by lamina itself (tests and benchmarks only).

A spec maps relative paths to nodes, in order (a mapping, or a sequence of
``(path, node)`` pairs when a path repeats, as hostile layers need)::

    spec = {"etc": Dir(mode=0o755), "etc/passwd": File(b"root:x:0:0\\n"),
            "etc/pw": Hardlink("etc/passwd"), "bin": Symlink("usr/bin"),
            "old": Whiteout(), "var": Opaque()}

``build_tree`` writes the overlay form of ``Whiteout`` (a 0:0 char device, root
only) and ``Opaque`` (``trusted.overlay.opaque=y`` on the dir); ``layer_tar`` writes
``.wh.NAME`` and ``DIR/.wh..wh..opq`` members. Tar member names are used verbatim,
so hostile names (``../x``, ``/abs``, ``.wh..``) can be written on purpose. Missing
parents are created implicitly by ``build_tree`` but not added to tars.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MTIME = 1_600_000_000  # 2020-09-13, fixed so tars are reproducible


@dataclass(frozen=True, slots=True, kw_only=True)
class _Meta:
    uid: int = 0
    gid: int = 0
    mtime: int | None = None
    xattrs: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class File(_Meta):
    content: bytes = b""
    mode: int = 0o644

    def __init__(self, content: bytes = b"", mode: int = 0o644, *, uid: int = 0, gid: int = 0,
                 mtime: int | None = None, xattrs: Mapping[str, bytes] | None = None) -> None:
        _init(self, content=content, mode=mode, uid=uid, gid=gid, mtime=mtime, xattrs=xattrs or {})


@dataclass(frozen=True, slots=True, kw_only=True)
class Dir(_Meta):
    mode: int = 0o755
    opaque: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Symlink(_Meta):
    target: str = ""

    def __init__(self, target: str, *, uid: int = 0, gid: int = 0, mtime: int | None = None) -> None:
        _init(self, target=target, uid=uid, gid=gid, mtime=mtime, xattrs={})


@dataclass(frozen=True, slots=True, kw_only=True)
class Hardlink(_Meta):
    target: str = ""

    def __init__(self, target: str) -> None:
        _init(self, target=target, uid=0, gid=0, mtime=None, xattrs={})


@dataclass(frozen=True, slots=True, kw_only=True)
class Fifo(_Meta):
    mode: int = 0o644


@dataclass(frozen=True, slots=True, kw_only=True)
class Device(_Meta):
    major: int = 0
    minor: int = 0
    block: bool = False
    mode: int = 0o600


@dataclass(frozen=True, slots=True, kw_only=True)
class Whiteout(_Meta):
    """The path is deleted: ``.wh.NAME`` in a tar, a 0:0 char device on disk."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Opaque(_Meta):
    """The directory at the path hides lower content: only the marker / xattr, no dir entry."""


Node = File | Dir | Symlink | Hardlink | Fifo | Device | Whiteout | Opaque
Spec = Mapping[str, Node] | Iterable[tuple[str, Node]]
OPAQUE_XATTR = "trusted.overlay.opaque"


def _init(obj: object, **values: object) -> None:
    for key, value in values.items():
        object.__setattr__(obj, key, value)


def _items(spec: Spec) -> list[tuple[str, Node]]:
    return list(spec.items()) if isinstance(spec, Mapping) else list(spec)


# ---------------------------------------------------------------- on disk
def build_tree(root: Path, spec: Spec) -> Path:
    """Create *spec* under *root* (created if missing); returns *root*. mtimes are set last."""
    root.mkdir(parents=True, exist_ok=True)
    items = _items(spec)
    for rel, node in items:
        _build(root, rel.strip("/"), node)
    for rel, node in reversed(items):
        if node.mtime is not None and not isinstance(node, (Whiteout, Opaque, Hardlink)):
            os.utime(root / rel.strip("/"), (node.mtime, node.mtime), follow_symlinks=False)
    return root


def _build(root: Path, rel: str, node: Node) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(node, (Dir, Opaque)):
        path.mkdir(exist_ok=True)
        if isinstance(node, Dir):
            os.chmod(path, node.mode)
        if isinstance(node, Opaque) or node.opaque:
            os.setxattr(path, OPAQUE_XATTR, b"y")
    elif isinstance(node, File):
        path.write_bytes(node.content)
        os.chmod(path, node.mode)
    elif isinstance(node, Symlink):
        os.symlink(node.target, path)
    elif isinstance(node, Hardlink):
        os.link(root / node.target.strip("/"), path, follow_symlinks=False)
    elif isinstance(node, Whiteout):
        os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))
    elif isinstance(node, Fifo):
        os.mkfifo(path, node.mode)
    elif isinstance(node, Device):
        kind = stat.S_IFBLK if node.block else stat.S_IFCHR
        os.mknod(path, kind | node.mode, os.makedev(node.major, node.minor))
    _owner_and_xattrs(path, node)


def _owner_and_xattrs(path: Path, node: Node) -> None:
    if isinstance(node, (Whiteout, Opaque, Hardlink)):
        return
    if os.geteuid() == 0:
        os.chown(path, node.uid, node.gid, follow_symlinks=False)
        if isinstance(node, (File, Dir)):
            os.chmod(path, node.mode)  # chown cleared setuid bits
    for name, value in node.xattrs.items():
        os.setxattr(path, name, value, follow_symlinks=False)


# ---------------------------------------------------------------- as a tar
def layer_tar(spec: Spec) -> bytes:
    """A PAX layer tar of *spec* in the given order, with OCI whiteouts."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for rel, node in _items(spec):
            for info, data in _members(rel, node):
                tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _members(rel: str, node: Node) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    if isinstance(node, Whiteout):
        head, tail = posixpath.split(rel.rstrip("/"))
        return [(_info(posixpath.join(head, ".wh." + tail), tarfile.REGTYPE, 0o600, node), b"")]
    marker = (_info(posixpath.join(rel.rstrip("/"), ".wh..wh..opq"), tarfile.REGTYPE, 0o600, node), b"")
    if isinstance(node, Opaque):
        return [marker]
    info = _info(rel, _TAR_TYPE[type(node)], getattr(node, "mode", 0o777), node)
    data: bytes | None = None
    if isinstance(node, File):
        data = node.content
        info.size = len(data)
    elif isinstance(node, (Symlink, Hardlink)):
        info.linkname = node.target
    elif isinstance(node, Device):
        info.type = tarfile.BLKTYPE if node.block else tarfile.CHRTYPE
        info.devmajor, info.devminor = node.major, node.minor
    out: list[tuple[tarfile.TarInfo, bytes | None]] = [(info, data)]
    if isinstance(node, Dir) and node.opaque:
        out.append(marker)
    return out


_TAR_TYPE: dict[type, bytes] = {File: tarfile.REGTYPE, Dir: tarfile.DIRTYPE, Symlink: tarfile.SYMTYPE,
                                Hardlink: tarfile.LNKTYPE, Fifo: tarfile.FIFOTYPE, Device: tarfile.CHRTYPE}


def _info(name: str, kind: bytes, mode: int, node: Node) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid, info.gid = node.uid, node.gid
    info.mtime = DEFAULT_MTIME if node.mtime is None else node.mtime
    info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                        for k, v in node.xattrs.items()}
    return info


# ---------------------------------------------------------------- reading back
def snapshot(root: Path, *, content: bool = True) -> dict[str, tuple[object, ...]]:
    """A comparable picture of a tree: path -> (kind, mode, uid, gid, content/target, xattrs).

    Hardlink groups show up as equal inode-group numbers (first path order), so two
    trees with the same links compare equal. mtimes are left out.
    """
    out: dict[str, tuple[object, ...]] = {}
    groups: dict[tuple[int, int], int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            out[rel] = _describe(path, content, groups)
    return dict(sorted(out.items()))


def _describe(path: Path, content: bool, groups: dict[tuple[int, int], int]) -> tuple[object, ...]:
    st = path.lstat()
    kind = stat.S_IFMT(st.st_mode)
    detail: object = None
    if stat.S_ISLNK(st.st_mode):
        detail = os.readlink(path)
    elif stat.S_ISREG(st.st_mode) and content:
        detail = path.read_bytes()
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        detail = (os.major(st.st_rdev), os.minor(st.st_rdev))
    link = None
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        link = groups.setdefault((st.st_dev, st.st_ino), len(groups))
    try:
        xattrs = tuple(sorted((n, os.getxattr(path, n, follow_symlinks=False))
                              for n in os.listxattr(path, follow_symlinks=False)))
    except OSError:
        xattrs = ()
    return (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, detail, link, xattrs)


def tar_names(data: bytes) -> list[str]:
    """Member names of a tar, in order (directories keep no trailing slash)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        return [m.name for m in tf.getmembers()]


def listing(root: Path) -> list[str]:
    """Sorted relative paths below *root*, directories with a trailing ``/``."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out.append(str(Path(dirpath, name).relative_to(root)) + "/")
        for name in filenames:
            out.append(str(Path(dirpath, name).relative_to(root)))
    return sorted(out)
