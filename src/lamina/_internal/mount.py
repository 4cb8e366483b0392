"""Mount mechanics: mount(2)/umount2(2) via libc, the new mount API, /proc/self/mountinfo.

Must not know about layers, images or drivers: it mounts file systems at paths and
reports what is mounted, nothing more. Errors are ``OSError`` with the errno and,
for the new mount API, the kernel's own fs-context message (callers translate them).

Two ways to mount:

* ``mount(source, target, fstype, flags, data)`` is mount(2). Its ``data`` string is
  copied into one page by the kernel, so long option strings fail; ``cwd=`` lets a
  caller use short relative paths (docker's overlay2 ``mountFrom`` trick).
* ``fs_mount(fstype, target, options)`` is fsopen/fsconfig/fsmount/move_mount. Every
  option is its own fsconfig call, so overlay's ``lowerdir+`` takes one lower per call
  with no page-size limit and no colon escaping (kernel >= 6.8). On failure the
  message the kernel logged on the fs-context fd is put in the ``OSError`` text.

Syscall numbers 428..442 are the same on every architecture (they were added after
the tables were unified), so x86_64 and aarch64 share them.
"""

from __future__ import annotations

import _thread
import ctypes
import errno
import functools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from lamina._internal.records import Record, record

# new mount API syscall numbers (identical on x86_64, aarch64 and all post-424 tables)
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_FSOPEN = 430
SYS_FSCONFIG = 431
SYS_FSMOUNT = 432

FSOPEN_CLOEXEC = 0x1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
FSMOUNT_CLOEXEC = 0x1
MOUNT_ATTR_RDONLY = 0x1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
AT_FDCWD = -100
ENOPARAM = 519  # kernel-internal errno for an unknown fs parameter

MS_RDONLY = 0x1
MS_BIND = 0x1000
MS_REC = 0x4000
MS_REMOUNT = 0x20
MNT_FORCE = 0x1
MNT_DETACH = 0x2

_chdir_lock = _thread.allocate_lock()   # threading's import is not needed for one lock


@functools.cache
def _libc() -> ctypes.CDLL:
    """glibc by its soname; ``find_library`` (which runs ``ldconfig -p``, ~10 ms) only as a fallback."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library
        return ctypes.CDLL(find_library("c") or "libc.so.6", use_errno=True)


def _check(ret: int, what: str, path: str | None = None, detail: str = "") -> int:
    if ret < 0:
        err = ctypes.get_errno()
        msg = f"{what}: {os.strerror(err)}" + (f": {detail}" if detail else "")
        raise OSError(err, msg, path)
    return ret


# ------------------------------------------------------------------ mount(2) / umount2(2)
def mount(source: str, target: str | os.PathLike[str], fstype: str | None = None,
          flags: int = 0, data: str | None = None, *, cwd: str | os.PathLike[str] | None = None) -> None:
    """mount(2). With *cwd*, relative paths in *data* resolve from there (process-wide chdir, locked)."""
    tgt = os.fsencode(os.path.abspath(target))
    args = (source.encode(), tgt, fstype.encode() if fstype else None, ctypes.c_ulong(flags),
            data.encode() if data is not None else None)
    if cwd is None:
        _check(_libc().mount(*args), f"mount {fstype or 'bind'} on {os.fsdecode(tgt)}", os.fsdecode(tgt))
        return
    with _chdir_lock:
        old = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.chdir(cwd)
            ret = _libc().mount(*args)
            _check(ret, f"mount {fstype} on {os.fsdecode(tgt)}", os.fsdecode(tgt))
        finally:
            os.fchdir(old)
            os.close(old)


def umount(target: str | os.PathLike[str], flags: int = 0) -> None:
    """umount2(2); raises OSError (EINVAL when *target* is not a mount point)."""
    tgt = os.fsencode(target)
    _check(_libc().umount2(tgt, ctypes.c_int(flags)), f"unmount {os.fsdecode(tgt)}", os.fsdecode(tgt))


def bind_mount(source: str | os.PathLike[str], target: str | os.PathLike[str], *,
               readonly: bool = False) -> None:
    """Bind *source* on *target*, optionally remounting it read-only."""
    mount(os.fspath(source), target, None, MS_BIND | MS_REC)
    if readonly:
        mount("none", target, None, MS_BIND | MS_REC | MS_RDONLY | MS_REMOUNT)


# ------------------------------------------------------------------ new mount API
def _syscall(number: int, *args: object) -> int:
    return int(_libc().syscall(ctypes.c_long(number), *args))


def _fs_log(fd: int) -> str:
    """Drain the messages the kernel logged on an fs-context fd ("e overlay: ..." lines)."""
    lines: list[str] = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        lines.append(chunk.decode(errors="replace").strip())
    return "; ".join(line for line in lines if line)


def _fsconfig(fd: int, key: str, value: str | None) -> None:
    if value is None:
        ret = _syscall(SYS_FSCONFIG, ctypes.c_int(fd), ctypes.c_uint(FSCONFIG_SET_FLAG),
                       key.encode(), None, ctypes.c_int(0))
    else:
        ret = _syscall(SYS_FSCONFIG, ctypes.c_int(fd), ctypes.c_uint(FSCONFIG_SET_STRING),
                       key.encode(), os.fsencode(value), ctypes.c_int(0))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"fsconfig {key}={value}: {os.strerror(err)}: {_fs_log(fd)}", value)


def fs_mount(fstype: str, target: str | os.PathLike[str], options: Sequence[tuple[str, str | None]],
             *, source: str | None = None, readonly: bool = False) -> None:
    """Mount *fstype* on *target* with the new mount API, one fsconfig call per option.

    *options* are (key, value) pairs; a None value sets a flag option. Keys may repeat
    (overlay's ``lowerdir+``). Raises OSError carrying the kernel's fs-context message.
    """
    target = os.path.abspath(target)
    fs_fd = _check(_syscall(SYS_FSOPEN, fstype.encode(), ctypes.c_uint(FSOPEN_CLOEXEC)), f"fsopen {fstype}")
    try:
        if source is not None:
            _fsconfig(fs_fd, "source", source)
        for key, value in options:
            _fsconfig(fs_fd, key, value)
        if _syscall(SYS_FSCONFIG, ctypes.c_int(fs_fd), ctypes.c_uint(FSCONFIG_CMD_CREATE),
                    None, None, ctypes.c_int(0)) < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount {fstype} on {target}: {os.strerror(err)}: {_fs_log(fs_fd)}", target)
        attrs = MOUNT_ATTR_RDONLY if readonly else 0
        mnt_fd = _check(_syscall(SYS_FSMOUNT, ctypes.c_int(fs_fd), ctypes.c_uint(FSMOUNT_CLOEXEC),
                                 ctypes.c_uint(attrs)), f"fsmount {fstype}", target)
    finally:
        os.close(fs_fd)
    try:
        _check(_syscall(SYS_MOVE_MOUNT, ctypes.c_int(mnt_fd), b"", ctypes.c_int(AT_FDCWD),
                        os.fsencode(target), ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH)),
               f"move_mount {fstype} to {target}", target)
    finally:
        os.close(mnt_fd)


@functools.cache
def new_mount_api() -> str | None:
    """None when fsopen(2) works here, else the reason (ENOSYS on old kernels, EPERM in sandboxes)."""
    fd = _syscall(SYS_FSOPEN, b"tmpfs", ctypes.c_uint(FSOPEN_CLOEXEC))
    if fd < 0:
        return f"fsopen: {os.strerror(ctypes.get_errno())}"
    os.close(fd)
    return None


def fs_option_supported(fstype: str, key: str, value: str | None) -> bool:
    """Whether the kernel's *fstype* accepts option *key* (checked by fsconfig, nothing is mounted)."""
    try:
        fd = _check(_syscall(SYS_FSOPEN, fstype.encode(), ctypes.c_uint(FSOPEN_CLOEXEC)), "fsopen")
    except OSError:
        return False
    try:
        _fsconfig(fd, key, value)
    except OSError as exc:
        return exc.errno not in (errno.EINVAL, ENOPARAM)
    finally:
        os.close(fd)
    return True


# ------------------------------------------------------------------ /proc/self/mountinfo
@record
class MountInfo(Record):
    """One line of /proc/<pid>/mountinfo (proc(5)); paths are unescaped."""

    mount_id: int
    parent_id: int
    root: str
    mountpoint: str
    options: str
    fstype: str
    source: str
    super_options: str


def _unescape(field: str) -> str:
    """mountinfo octal-escapes space, tab, newline and backslash as \\ooo."""
    if "\\" not in field:
        return field
    out, i = bytearray(), 0
    raw = field.encode()
    while i < len(raw):
        if raw[i] == 0x5C and i + 3 < len(raw) and raw[i + 1:i + 4].isdigit():
            out.append(int(raw[i + 1:i + 4], 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return out.decode(errors="surrogateescape")


def parse_mountinfo_line(line: str) -> MountInfo:
    fields = line.split()
    sep = fields.index("-", 6)
    return MountInfo(mount_id=int(fields[0]), parent_id=int(fields[1]), root=_unescape(fields[3]),
                     mountpoint=_unescape(fields[4]), options=fields[5], fstype=fields[sep + 1],
                     source=_unescape(fields[sep + 2]),
                     super_options=fields[sep + 3] if len(fields) > sep + 3 else "")


def mountinfo(pid: str = "self") -> Iterator[MountInfo]:
    """Yield the mounts of *pid*'s mount namespace, in mount order."""
    with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            if line.strip():
                yield parse_mountinfo_line(line)


def _escape(path: str) -> str:
    """A path as mountinfo writes it (the inverse of ``_unescape``)."""
    return path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011").replace("\n", "\\012")


def mounts_at(path: str | os.PathLike[str]) -> list[MountInfo]:
    """The mounts stacked on *path* (its realpath), oldest first.

    Compares the raw mount-point field and parses only the lines that match: a driver asks this a few
    times per container start, and parsing every line of a busy mountinfo each time added up.
    """
    wanted = _escape(os.path.realpath(path))
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        return [parse_mountinfo_line(line) for line in f if line.split(" ", 5)[4:5] == [wanted]]


def mounts_under(path: str | os.PathLike[str]) -> list[MountInfo]:
    """Mounts at or below *path*, deepest first (the order to unmount them in)."""
    real = os.path.realpath(path).rstrip("/") or "/"
    found = [m for m in mountinfo() if m.mountpoint == real or m.mountpoint.startswith(real + "/")]
    return sorted(found, key=lambda m: m.mountpoint.count("/"), reverse=True)


def is_mountpoint(path: str | os.PathLike[str]) -> bool:
    """Whether something is mounted on *path* (per mountinfo, so bind mounts of a dir count)."""
    if not os.path.isdir(path):
        return False
    return bool(mounts_at(path))


def fstype_of(path: str | os.PathLike[str]) -> str:
    """The file-system type of the mount that holds *path* (longest mountinfo prefix)."""
    real = Path(os.path.realpath(path))
    best: MountInfo | None = None
    for m in mountinfo():
        mp = Path(m.mountpoint)
        if (real == mp or mp in real.parents) and (best is None or len(m.mountpoint) >= len(best.mountpoint)):
            best = m
    return best.fstype if best else ""
