"""Capability checks that *try* the operation instead of guessing from versions.

Must not keep state beyond a returned value, and must not create layers: each probe
works in a throw-away directory under the driver's root and removes it.

* ``probe_overlay(root)``: a real overlay mount (two lowers, an upper, a write through
  the merged dir) with the options the overlay driver will use; it also checks
  ``d_type`` (overlay needs it: on xfs with ftype=0 whiteouts would be wrong).
  Returns ``OverlaySupport`` or raises ``DriverNotSupported`` with the kernel's message.
* ``supports_d_type(path)``: reads the directory with getdents64(2) and checks the
  entries carry a type (not DT_UNKNOWN).
* ``probe_btrfs(root)``: the root is on btrfs and the ``btrfs`` CLI is installed.
"""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

from lamina._internal import mount as mnt
from lamina._internal.fsops import rmtree
from lamina._internal.records import Record, record
from lamina.errors import DriverNotSupported

_GETDENTS64 = {"x86_64": 217, "aarch64": 61, "arm64": 61}
_DT_UNKNOWN = 0
_WANTED_OPTIONS: tuple[tuple[str, str | None], ...] = (
    # index/metacopy off: layers stay portable; redirect_dir off: renaming a lower dir in a
    # writable layer copies it up instead of writing a redirect xattr, so the upper dir
    # alone describes the change and a native (upper-walking) diff is correct.
    ("redirect_dir", "off"), ("index", "off"), ("metacopy", "off"))


@record
class OverlaySupport(Record):
    """What the probe found: which mount API to use and which extra options the kernel takes."""

    new_api: bool
    options: tuple[tuple[str, str | None], ...]
    userxattr: bool
    d_type: bool
    volatile: bool = False  # overlay's "volatile": no sync of the upper fs on umount/syncfs


def supports_d_type(path: str | os.PathLike[str]) -> bool:
    """True when getdents64 on *path* reports entry types; falls back to True if the syscall is unknown."""
    number = _GETDENTS64.get(os.uname().machine)
    if number is None:
        return True
    import tempfile  # probes are cached per boot: off the hot path
    with tempfile.TemporaryDirectory(prefix=".dtype-", dir=path) as tmp:
        Path(tmp, "f").touch()
        fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
        try:
            return _DT_UNKNOWN not in _entry_types(fd, number)
        finally:
            os.close(fd)


def _entry_types(fd: int, number: int) -> set[int]:
    buf = ctypes.create_string_buffer(8192)
    libc = ctypes.CDLL(None, use_errno=True)
    n = int(libc.syscall(ctypes.c_long(number), ctypes.c_int(fd), buf, ctypes.c_uint(len(buf))))
    if n < 0:
        raise OSError(ctypes.get_errno(), "getdents64 failed")
    types: set[int] = set()
    off = 0
    while off < n:
        _ino, _next, reclen, dtype = struct.unpack_from("=QqHB", buf.raw, off)
        types.add(dtype)
        off += reclen
    return types


def overlay_options(new_api: bool) -> tuple[tuple[str, str | None], ...]:
    """The wanted options this kernel accepts (asked via fsconfig, or via /sys/module/overlay)."""
    if new_api:
        return tuple(o for o in _WANTED_OPTIONS if mnt.fs_option_supported("overlay", *o))
    params = Path("/sys/module/overlay/parameters")
    return tuple(o for o in _WANTED_OPTIONS if (params / o[0]).exists())


def cached_probe_overlay(root: Path) -> OverlaySupport:
    """``probe_overlay`` once per boot: the answer is kept in ``<root>/overlay-probe.json`` with the boot id.

    Every CLI command opens the driver, and a real probe mount costs tens of milliseconds;
    kernel features cannot change without a reboot, which changes the boot id.
    """
    import json
    cache = root / "overlay-probe.json"
    boot = _boot_id()
    try:
        data = json.loads(cache.read_text())
        if data.get("boot_id") == boot:
            return OverlaySupport(new_api=data["new_api"], userxattr=data["userxattr"], d_type=data["d_type"],
                                  volatile=data.get("volatile", False),
                                  options=tuple((k, v) for k, v in data["options"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    support = probe_overlay(root)
    from lamina._internal.fsops import atomic_write
    atomic_write(cache, json.dumps({"boot_id": boot, "new_api": support.new_api, "userxattr": support.userxattr,
                                    "volatile": support.volatile,
                                    "d_type": support.d_type, "options": support.options}).encode())
    return support


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def probe_overlay(root: Path) -> OverlaySupport:
    """Mount a tiny overlay under *root* and write through it; raise DriverNotSupported on failure."""
    if os.geteuid() != 0:
        raise DriverNotSupported("overlay", "mounting overlayfs needs root")
    if not Path("/proc/filesystems").read_text().count("overlay"):
        raise DriverNotSupported("overlay", "the kernel has no overlay file system (modprobe overlay)")
    root.mkdir(parents=True, exist_ok=True)
    if not supports_d_type(root):
        raise DriverNotSupported("overlay", f"{root} does not support d_type (xfs with ftype=0?)")
    new_api = mnt.new_mount_api() is None
    options = overlay_options(new_api)
    import tempfile
    tmp = Path(tempfile.mkdtemp(prefix=".probe-", dir=root))
    try:
        _try_mount(tmp, new_api, options)
    finally:
        rmtree(tmp)
    userxattr = new_api and mnt.fs_option_supported("overlay", "userxattr", None)
    volatile = new_api and mnt.fs_option_supported("overlay", "volatile", None)
    return OverlaySupport(new_api=new_api, options=options, userxattr=userxattr, d_type=True, volatile=volatile)


def _try_mount(tmp: Path, new_api: bool, options: tuple[tuple[str, str | None], ...]) -> None:
    for d in ("l1", "l2", "u", "w", "m"):
        (tmp / d).mkdir()
    (tmp / "l1" / "probe").write_bytes(b"lamina")
    try:
        if new_api:
            mnt.fs_mount("overlay", tmp / "m", [*options, ("lowerdir+", str(tmp / "l1")),
                                               ("lowerdir+", str(tmp / "l2")),
                                               ("upperdir", str(tmp / "u")), ("workdir", str(tmp / "w"))],
                         source="overlay")
        else:
            data = ",".join(f"{k}={v}" if v else k for k, v in options)
            mnt.mount("overlay", tmp / "m", "overlay", 0,
                      f"{data + ',' if data else ''}lowerdir=l1:l2,upperdir=u,workdir=w", cwd=tmp)
    except OSError as exc:
        raise DriverNotSupported("overlay", f"probe mount failed: {exc.strerror}") from exc
    try:
        (tmp / "m" / "written").write_bytes(b"x")
        if (tmp / "m" / "probe").read_bytes() != b"lamina" or not (tmp / "u" / "written").exists():
            raise DriverNotSupported("overlay", "probe mount does not show its layers")
    finally:
        mnt.umount(tmp / "m", mnt.MNT_DETACH)


def probe_btrfs(root: Path) -> str | None:
    """None when *root* is on btrfs and the btrfs CLI exists, else the reason."""
    root.mkdir(parents=True, exist_ok=True)
    fstype = mnt.fstype_of(root)
    if fstype != "btrfs":
        return f"{root} is on {fstype or 'an unknown file system'}, not btrfs"
    import shutil
    if shutil.which("btrfs") is None:
        return "the btrfs command is not installed (apt-get install btrfs-progs)"
    if os.geteuid() != 0:
        return "btrfs subvolume operations need root"
    return None
