"""Cgroup layout detection, the hybrid-mode fix crun needs, and OOM-kill counters.

Must not know about images, containers or the runtime CLI: only /sys/fs/cgroup,
/proc/self/mountinfo and one marker file under /run/lamina.

Kernel quirk (why ``prepare_cgroups`` exists): on "hybrid" hosts cgroup v1 holds
most controllers and a cgroup2 mount at ``/sys/fs/cgroup/unified`` still owns the
controllers nobody bound to v1 (``hugetlb`` here). crun 1.8 refuses to run
("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"),
even with ``--cgroup-manager=disabled``. Mounting each such controller as its own
v1 hierarchy empties ``cgroup.controllers`` and crun is happy. The fix is global
to the boot, so a marker file holding the boot id records that it was done.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path

from lamina._internal.logs import get_logger
from lamina._internal.records import Record, record

log = get_logger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
MARKER = Path("/run/lamina/cgroups-prepared")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class CgroupMode(enum.StrEnum):
    V1 = "v1"          # only v1 hierarchies (a cgroup2 mount may exist but owns no controller)
    V2 = "v2"          # unified: /sys/fs/cgroup is cgroup2
    HYBRID = "hybrid"  # v1 plus a cgroup2 mount that still owns controllers (crun refuses this)


@record
class CgroupStatus(Record):
    """What ``prepare_cgroups`` left behind: usable by crun or not, and why."""

    mode: CgroupMode
    usable: bool
    reason: str = ""


def _fs_type(mountinfo: str, target: str) -> str | None:
    found = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == target and " - " in line:
            found = line.split(" - ", 1)[1].split()[0]  # later mounts shadow earlier ones
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def unified_controllers(root: Path = CGROUP_ROOT) -> list[str]:
    """Controllers still owned by the cgroup2 mount of a v1 host (empty when none)."""
    return _read(root / "unified" / "cgroup.controllers").split()


def detect_mode(root: Path = CGROUP_ROOT, mountinfo: str | None = None) -> CgroupMode:
    """Classify the host: ``v2`` (unified), ``hybrid`` (v2 still owns controllers) or ``v1``."""
    info = _read(Path("/proc/self/mountinfo")) if mountinfo is None else mountinfo
    if _fs_type(info, str(root)) == "cgroup2":
        return CgroupMode.V2
    if _fs_type(info, str(root / "unified")) == "cgroup2" and unified_controllers(root):
        return CgroupMode.HYBRID
    return CgroupMode.V1


def _mount_v1(controller: str, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(target):
        return
    import subprocess
    done = subprocess.run(["mount", "-t", "cgroup", "-o", controller, "cgroup", str(target)],
                          check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise OSError(done.stderr.strip() or f"mount exited {done.returncode}")


def _marked(marker: Path) -> bool:
    boot = _read(BOOT_ID).strip()
    return bool(boot) and _read(marker).strip() == boot


def _mark(marker: Path) -> None:
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(_read(BOOT_ID).strip() + "\n")
    except OSError as exc:  # not root: we simply redo the cheap check next time
        log.debug("cgroups marker not written path=%s err=%s", marker, exc)


def prepare_cgroups(root: Path = CGROUP_ROOT, marker: Path = MARKER) -> None:
    """Make a hybrid cgroup host acceptable to crun; idempotent and cheap.

    Reads ``unified/cgroup.controllers`` first (nothing to do when empty), then
    attempts the fix at most once per boot (marker file holding the boot id).
    Never raises: when the fix is impossible (not root, mount refused) it logs a
    warning and ``cgroup_status`` keeps reporting the host as unusable.
    """
    controllers = unified_controllers(root)
    if not controllers or _marked(marker):
        return
    for controller in controllers:
        log.info("binding cgroup controller %s to a v1 hierarchy for crun", controller)
        try:
            _mount_v1(controller, root / controller)
        except OSError as exc:
            detail = str(exc)
            log.warning("cannot bind cgroup controller %s (%s): containers will run without "
                        "cgroup limits", controller, str(detail).strip())
            break
    _mark(marker)


def cgroup_status(root: Path = CGROUP_ROOT, mountinfo: str | None = None) -> CgroupStatus:
    """Report whether crun can use the host's cgroups as they are now."""
    mode = detect_mode(root, mountinfo)
    if mode is CgroupMode.HYBRID:
        ctrls = ",".join(unified_controllers(root))
        return CgroupStatus(mode=mode, usable=False,
                            reason=f"cgroup2 still owns controllers {ctrls} (hybrid mode)")
    return CgroupStatus(mode=mode, usable=True)


def swap_accounting(root: Path = CGROUP_ROOT) -> bool:
    """True when a memory+swap limit can be set (v1 memsw files or v2 memory.swap.max)."""
    if (root / "memory" / "memory.memsw.limit_in_bytes").exists():
        return True
    return (root / "cgroup.controllers").exists() and "memory" in _read(root / "cgroup.controllers")


def _counter(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def oom_kill_count(cgroups_path: str, root: Path = CGROUP_ROOT) -> int:
    """OOM kills recorded for *cgroups_path* (v1 memory.oom_control, v2 memory.events).

    Returns 0 when the cgroup is gone (crun removes it on delete: read it before).
    """
    rel = cgroups_path.strip("/")
    v1 = _read(root / "memory" / rel / "memory.oom_control")
    if v1:
        return _counter(v1, "oom_kill")
    return _counter(_read(root / rel / "memory.events"), "oom_kill")


@record
class Usage(Record):
    """One reading of a cgroup's counters (what ``stats`` shows; 0 for what the host does not account)."""

    cpu_ns: int = 0             # cumulative CPU time
    memory: int = 0             # bytes in use, page cache that can be dropped excluded (docker's rule)
    memory_limit: int = 0       # bytes; 0 = no limit
    pids: int = 0
    block_read: int = 0
    block_write: int = 0


def usage(cgroups_path: str, root: Path = CGROUP_ROOT) -> Usage:
    """The counters of *cgroups_path*, v1 (one hierarchy per controller) or v2; zeros when it is gone."""
    rel = cgroups_path.strip("/")
    if (root / "memory" / rel).is_dir() or (root / "cpuacct" / rel).is_dir():
        return _usage_v1(root, rel)
    return _usage_v2(root / rel)


def _number(text: str) -> int:
    text = text.strip()
    return int(text) if text.isdigit() else 0


def _usage_v1(root: Path, rel: str) -> Usage:
    memory_stat = _read(root / "memory" / rel / "memory.stat")
    used = _number(_read(root / "memory" / rel / "memory.usage_in_bytes"))
    limit = _number(_read(root / "memory" / rel / "memory.limit_in_bytes"))
    read, write = _blkio(_read(root / "blkio" / rel / "blkio.throttle.io_service_bytes"))
    return Usage(cpu_ns=_number(_read(root / "cpuacct" / rel / "cpuacct.usage")),
                 memory=max(0, used - _counter(memory_stat, "total_inactive_file")),
                 memory_limit=0 if limit >= 1 << 62 else limit,
                 pids=_number(_read(root / "pids" / rel / "pids.current")), block_read=read, block_write=write)


def _usage_v2(path: Path) -> Usage:
    memory_stat = _read(path / "memory.stat")
    limit = _read(path / "memory.max").strip()
    read = write = 0
    for line in _read(path / "io.stat").splitlines():
        fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
        read, write = read + _number(fields.get("rbytes", "0")), write + _number(fields.get("wbytes", "0"))
    return Usage(cpu_ns=_counter(_read(path / "cpu.stat"), "usage_usec") * 1000,
                 memory=max(0, _number(_read(path / "memory.current")) - _counter(memory_stat, "inactive_file")),
                 memory_limit=_number(limit) if limit != "max" else 0,
                 pids=_number(_read(path / "pids.current")), block_read=read, block_write=write)


def _blkio(text: str) -> tuple[int, int]:
    read = write = 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[2].isdigit():
            read += int(fields[2]) if fields[1] == "Read" else 0
            write += int(fields[2]) if fields[1] == "Write" else 0
    return read, write
