"""Image config + run options -> OCI runtime config.json, following docker's defaults.

Must not start processes, mount anything or talk to the runtime. It reads the
rootfs's /etc/passwd and /etc/group (user resolution) and, through
``probe_host``, the caller's rlimits and capability bounding set; tests pass a
``HostFacts`` instead. ``write_etc_files`` writes the per-container
/etc/{hostname,hosts,resolv.conf} that the config bind-mounts.

Docker rules copied here (moby daemon/create + oci defaults):
- args: an entrypoint given at run time (even ``--entrypoint ""``) drops the
  image's Cmd; ``entrypoint=[]``/``[""]`` clears the image's entrypoint;
  run-time args replace Cmd; nothing left is "no command specified".
- env: run-time env wins over image env by key; PATH default, HOSTNAME and
  (with tty) TERM=xterm come first and are overridden in place; "KEY" without
  "=" unsets.
- user: "name", "uid", "uid:gid", "name:group"; unknown names are errors,
  unknown numbers are used as is (gid 0); supplementary groups come from
  /etc/group unless a group was given.
Host quirks handled here: rlimits never exceed the caller's hard limits (root may
lack CAP_SYS_RESOURCE), capabilities never exceed its bounding set, the swap
limit is only set when swap accounting exists.
"""

from __future__ import annotations

import os
import resource
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from lamina._internal import cgroups
from lamina._internal.logs import get_logger
from lamina._internal.records import Record, field, record
from lamina.errors import InvalidOption
from lamina.spec.runtime import (
    Capabilities,
    Cpu,
    Device,
    DeviceRule,
    Linux,
    Memory,
    Mount,
    Namespace,
    Pids,
    Process,
    Resources,
    Rlimit,
    Root,
    RuntimeConfig,
    User,
)

log = get_logger(__name__)

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD = 100_000
DEFAULT_RLIMITS: Mapping[str, tuple[int, int]] = {"RLIMIT_NOFILE": (1048576, 1048576)}
RLIM_INFINITY_OCI = 2**64 - 1
# index = capability number (linux/capability.h)
_CAP_NAMES = """
    CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
    NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO
    SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME
    SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG
    WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE
"""
ALL_CAPS = tuple("CAP_" + n for n in _CAP_NAMES.split())
DEFAULT_CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE")
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
# runc's AllowedDevices: mknod anything, use only the standard character devices
DEFAULT_DEVICES = (DeviceRule(allow=False, access="rwm"),
                   DeviceRule(allow=True, type="c", access="m"), DeviceRule(allow=True, type="b", access="m"),
                   *(DeviceRule(allow=True, type="c", major=ma, minor=mi, access="rwm")
                     for ma, mi in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2))),
                   DeviceRule(allow=True, type="c", major=136, access="rwm"))
HOSTS_DEFAULT = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
                 "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
FALLBACK_DNS = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal
    Network = Literal["none", "host", "bridge", "private"]  # private: loopback only (build RUN)


@record
class MountSpec(Record):
    """A user mount: ``bind`` and ``volume`` (a resolved host dir) bind *source*; ``tmpfs`` needs none."""

    kind: Literal["bind", "volume", "tmpfs"]
    destination: str
    source: str | None = None
    read_only: bool = False
    options: tuple[str, ...] = ()


@record
class RunOptions(Record):
    """docker-run-like options; ``None`` means "use the image's value"."""

    args: Sequence[str] = ()                  # COMMAND [ARG…]: replaces the image's Cmd
    entrypoint: Sequence[str] | None = None   # [] or [""] clears the image's Entrypoint
    env: Sequence[str] = ()                   # "K=V" (or "K" to unset)
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    tty: bool = False
    read_only: bool = False
    network: Network = "private"
    network_name: str | None = None           # a user-defined network (network == "bridge"); None: docker's bridge
    network_aliases: Sequence[str] = ()       # --network-alias: more names on that network's DNS
    ip: str | None = None                     # --ip: this IPv4 address on the user network
    mac_address: str | None = None            # --mac-address
    log_driver: str = "json-file"             # --log-driver: json-file or none
    domainname: str | None = None             # --domainname (the UTS namespace's NIS domain)
    expose: Sequence[str] = ()                # --expose PORT[/PROTO]: more ports for -P, as the image's EXPOSE
    log_opts: Mapping[str, str] = field(default_factory=dict)   # --log-opt max-size=10m, max-file=3, as given
    log_max_size: int | None = None           # max-size in bytes: a log file rotates past it
    publish: Sequence[str] = ()               # -p, canonical texts (lamina.network.ports); bridge only
    publish_all: bool = False                 # -P: every ExposedPorts entry to a free host port
    memory: int | None = None                 # bytes; swap is limited to the same (OOM observable)
    cpus: float | None = None
    pids_limit: int | None = None             # <= 0 means unlimited
    mounts: Sequence[MountSpec] = ()
    cgroup_parent: str | None = None
    privileged: bool = False
    oom_score_adj: int | None = None
    ulimits: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # "nofile": (soft, hard)
    cap_add: Sequence[str] = ()
    cap_drop: Sequence[str] = ()
    no_new_privileges: bool = False
    seccomp: str = "default"                  # "default" (the host's profile), "unconfined" or a profile's path
    system_paths: bool = True                 # False: --security-opt systempaths=unconfined (no masked /proc paths)
    restart: str = "no"                       # --restart: no, always, unless-stopped, on-failure[:N] (-d only)
    init: bool = False                        # --init: a static init (tini) as PID 1 reaps zombies, forwards signals
    extra_hosts: Sequence[str] = ()           # --add-host, as "name:ip" ("host-gateway": the bridge's gateway)
    dns: Sequence[str] = ()                   # --dns: these nameservers instead of the host's
    dns_search: Sequence[str] = ()            # --dns-search ("." for none)
    dns_options: Sequence[str] = ()           # --dns-option
    shm_size: int = 64 * 1024 * 1024
    devices: Sequence[str] = ()               # --device HOST[:CONTAINER[:PERMS]]
    pid: str = ""                             # --pid: "" (own namespace) or "host"
    ipc: str = ""                             # --ipc: "" / "private" (own) or "host"
    uts: str = ""                             # --uts: "" (own) or "host"
    sysctls: Mapping[str, str] = field(default_factory=dict)   # --sysctl, namespaced keys only
    cpu_shares: int | None = None             # --cpu-shares (relative weight)
    cpuset_cpus: str | None = None            # --cpuset-cpus "0-1,3"
    memory_swap: int | None = None            # --memory-swap: memory+swap bytes, -1 unlimited
    memory_reservation: int | None = None     # --memory-reservation: soft limit, bytes
    group_add: Sequence[str] = ()             # --group-add: extra groups (names from the image's /etc/group)
    health: Mapping[str, Any] | None = None   # --health-*/--no-healthcheck as docker's Healthcheck object (ns)
    join: Mapping[str, str] = field(default_factory=dict)   # "network"/"pid"/"ipc" -> a container to share it with


@record
class HostFacts(Record):
    """What the host allows; ``probe_host()`` reads the real values."""

    hard_limits: Mapping[str, int]            # "RLIMIT_NOFILE" -> current hard limit (-1 = unlimited)
    bounding_caps: frozenset[str] | None = None  # None: unknown, do not clamp
    swap_accounting: bool = True
    cgroups_usable: bool = True
    hostname: str = "localhost"


@record
class ResolvedUser(Record):
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"


# ---------------------------------------------------------------- host facts
def _bounding_caps() -> frozenset[str] | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                return frozenset(c for i, c in enumerate(ALL_CAPS) if mask >> i & 1)
    except OSError:
        pass
    return None


def probe_host() -> HostFacts:
    """Read this process's hard rlimits, capability bounding set and cgroup abilities."""
    limits = {name: resource.getrlimit(getattr(resource, name))[1]
              for name in dir(resource) if name.startswith("RLIMIT_")}
    status = cgroups.cgroup_status()
    return HostFacts(hard_limits=limits, bounding_caps=_bounding_caps(),
                     swap_accounting=cgroups.swap_accounting(), cgroups_usable=status.usable,
                     hostname=os.uname().nodename)


# ---------------------------------------------------------------- command and env
def resolve_args(image_config: Mapping[str, Any], opts: RunOptions) -> list[str]:
    """process.args from the image's Entrypoint/Cmd and the run options (docker's rules)."""
    if opts.entrypoint is None:
        entrypoint = list(image_config.get("Entrypoint") or [])
        cmd = list(opts.args) or list(image_config.get("Cmd") or [])
    else:
        entrypoint = [] if list(opts.entrypoint) in ([], [""]) else list(opts.entrypoint)
        cmd = list(opts.args)
    args = entrypoint + cmd
    if not args:
        raise InvalidOption("create container: no command specified")
    return args


def replace_or_append_env(defaults: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """docker's ReplaceOrAppendEnvValues: override by key in place, "K" alone unsets K."""
    out: list[str | None] = list(defaults)
    index = {e.partition("=")[0]: i for i, e in enumerate(defaults)}
    for value in overrides:
        key, eq, _ = value.partition("=")
        if key in index:
            out[index[key]] = value if eq else None
        elif eq:
            out.append(value)
    return [e for e in out if e is not None]


def build_env(image_env: Sequence[str], user_env: Sequence[str], *, hostname: str, tty: bool,
              home: str) -> list[str]:
    """The container's environment in docker's order."""
    user_keys = {e.partition("=")[0] for e in user_env}
    merged = [*user_env, *(e for e in image_env if e.partition("=")[0] not in user_keys)]
    base = [DEFAULT_PATH, f"HOSTNAME={hostname}", *(["TERM=xterm"] if tty else [])]
    env = replace_or_append_env(base, merged)
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={home}")
    return env


# ---------------------------------------------------------------- users
def _entries(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _lookup(rows: list[list[str]], key: str, min_fields: int) -> list[str] | None:
    for row in rows:
        if len(row) >= min_fields and (row[0] == key or (key.isdigit() and row[2] == key)):
            return row
    return None


def resolve_user(rootfs: Path, spec: str) -> ResolvedUser:
    """Resolve "name", "uid", "uid:gid", "name:group" against the rootfs's passwd/group files."""
    user_part, _, group_part = (spec or "0").partition(":")
    user_part = user_part or "0"
    passwd = _lookup(_entries(rootfs / "etc/passwd"), user_part, 7)
    if passwd is None and not user_part.isdigit():
        raise InvalidOption(f"unable to find user {user_part}: no matching entries in passwd file")
    uid = int(passwd[2]) if passwd else int(user_part)
    gid = int(passwd[3]) if passwd else 0
    home = passwd[5] if passwd and passwd[5] else "/"
    groups = _entries(rootfs / "etc/group")
    if group_part:
        group = _lookup(groups, group_part, 3)
        if group is None and not group_part.isdigit():
            raise InvalidOption(f"unable to find group {group_part}: no matching entries in group file")
        return ResolvedUser(uid=uid, gid=int(group[2]) if group else int(group_part), home=home)
    name = passwd[0] if passwd else None
    extra = [int(g[2]) for g in groups if len(g) >= 4 and name and name in g[3].split(",")
             and g[2].isdigit() and int(g[2]) != gid]
    return ResolvedUser(uid=uid, gid=gid, additional_gids=tuple(dict.fromkeys(extra)), home=home)


def resolve_group_add(rootfs: Path, names: Sequence[str]) -> tuple[int, ...]:
    """``--group-add``: gids, names looked up in the image's /etc/group."""
    groups = _entries(rootfs / "etc/group") if names else []
    out = []
    for name in names:
        row = _lookup(groups, name, 3)
        if row is None and not name.isdigit():
            raise InvalidOption(f"unable to find group {name}: no matching entries in group file")
        out.append(int(row[2]) if row else int(name))
    return tuple(out)


# ---------------------------------------------------------------- security
def _cap_name(name: str) -> str:
    upper = name.upper()
    full = upper if upper.startswith("CAP_") or upper == "ALL" else "CAP_" + upper
    if full != "ALL" and full not in ALL_CAPS:
        raise InvalidOption(f"create container: unknown capability: {name!r}")
    return full


def resolve_capabilities(opts: RunOptions, host: HostFacts) -> tuple[str, ...]:
    """docker's TweakCapabilities over the default 14 (or all when privileged), clamped to the host."""
    adds = {_cap_name(c) for c in opts.cap_add}
    drops = {_cap_name(c) for c in opts.cap_drop}
    if opts.privileged or "ALL" in adds:
        caps = set(ALL_CAPS) - drops
    elif "ALL" in drops:
        caps = adds - {"ALL"}
    else:
        caps = (set(DEFAULT_CAPS) | adds) - drops
    if host.bounding_caps is not None:
        caps &= host.bounding_caps
    return tuple(c for c in ALL_CAPS if c in caps)


def _rlimit_key(name: str) -> str:
    key = name.upper()
    key = key if key.startswith("RLIMIT_") else "RLIMIT_" + key
    if not hasattr(resource, key):
        raise InvalidOption(f"create container: unknown ulimit {name!r}")
    return key


def resolve_rlimits(opts: RunOptions, host: HostFacts) -> tuple[Rlimit, ...]:
    """Default + requested rlimits, each clamped to the caller's current hard limit."""
    wanted = dict(DEFAULT_RLIMITS)
    wanted.update({_rlimit_key(k): v for k, v in opts.ulimits.items()})
    out = []
    for key, (soft, hard) in sorted(wanted.items()):
        cap = host.hard_limits.get(key, -1)
        if cap >= 0 and (hard > cap or soft > cap):
            log.debug("clamping rlimit name=%s wanted=%d:%d hard=%d", key, soft, hard, cap)
            soft, hard = min(soft, cap), min(hard, cap)
        out.append(Rlimit(type=key, soft=_oci_limit(soft), hard=_oci_limit(hard)))
    return tuple(out)


def _oci_limit(value: int) -> int:
    return RLIM_INFINITY_OCI if value < 0 else value


# ---------------------------------------------------------------- mounts
INIT_PATH = "/dev/init"   # on the container's /dev tmpfs: nothing is written into its rootfs
INIT_BINARIES = ("docker-init", "tini-static", "catatonit")


def find_init() -> str:
    """A static init for ``--init`` (docker's docker-init, Debian's tini-static, or catatonit)."""
    from lamina._internal.fsops import which
    for name in INIT_BINARIES:
        path = which(name)
        if path:
            return path
    raise InvalidOption("--init: no static init found (" + ", ".join(INIT_BINARIES) + "; apt-get install tini)")


def with_init(args: Sequence[str], mounts: list[Mount], opts: RunOptions) -> list[str]:
    """``--init``: the init, bind-mounted read-only at INIT_PATH, runs the command as its child."""
    if not opts.init:
        return list(args)
    mounts.append(Mount(destination=INIT_PATH, type="bind", source=find_init(),
                        options=("rbind", "rprivate", "ro", "nosuid", "nodev")))
    return [INIT_PATH, "--", *args]


def default_mounts(opts: RunOptions, etc_files: Path) -> list[Mount]:
    ro = () if opts.privileged else ("ro",)
    mounts = [
        Mount(destination="/proc", type="proc", source="proc", options=("nosuid", "noexec", "nodev")),
        Mount(destination="/dev", type="tmpfs", source="tmpfs",
              options=("nosuid", "strictatime", "mode=755", "size=65536k")),
        Mount(destination="/dev/pts", type="devpts", source="devpts",
              options=("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
        Mount(destination="/sys", type="sysfs", source="sysfs", options=("nosuid", "noexec", "nodev", *ro)),
        Mount(destination="/sys/fs/cgroup", type="cgroup", source="cgroup",
              options=("nosuid", "noexec", "nodev", "relatime", *ro)),
        Mount(destination="/dev/mqueue", type="mqueue", source="mqueue",
              options=("nosuid", "noexec", "nodev")),
        Mount(destination="/dev/shm", type="bind", source="/dev/shm", options=("rbind", "rprivate"))
        if opts.ipc == "host" else
        Mount(destination="/dev/shm", type="tmpfs", source="shm",
              options=("nosuid", "noexec", "nodev", "mode=1777", f"size={opts.shm_size}")),
    ]
    for name in ("hostname", "hosts", "resolv.conf"):
        mounts.append(Mount(destination=f"/etc/{name}", type="bind", source=str(etc_files / name),
                            options=("rbind", "rprivate")))
    return mounts


def user_mount(spec: MountSpec) -> Mount:
    """The OCI mount for one ``MountSpec``; ``InvalidOption`` when it cannot work."""
    if not spec.destination.startswith("/"):
        raise InvalidOption(f"invalid mount config: destination {spec.destination!r} is not absolute")
    mode = "ro" if spec.read_only else "rw"
    if spec.kind == "tmpfs":
        base = ("nosuid", "nodev") + (() if "exec" in spec.options else ("noexec",))
        return Mount(destination=spec.destination, type="tmpfs", source="tmpfs",
                     options=(*base, mode, *(o for o in spec.options if o != "exec")))
    if not spec.source or not os.path.isabs(spec.source):
        raise InvalidOption(f"invalid mount config for type {spec.kind!r}: source must be an absolute path")
    if not os.path.exists(spec.source):
        raise InvalidOption(f"invalid mount config for type {spec.kind!r}: "
                            f"bind source path does not exist: {spec.source}")
    return Mount(destination=spec.destination, type="bind", source=spec.source,
                 options=("rbind", "rprivate", mode, *spec.options))


def merge_mounts(defaults: Sequence[Mount], user: Sequence[Mount]) -> tuple[Mount, ...]:
    """User mounts replace defaults at the same destination; parents mount before children."""
    taken = {m.destination.rstrip("/") for m in user}
    kept = [m for m in defaults if m.destination not in taken]
    ordered = sorted(user, key=lambda m: len([p for p in m.destination.split("/") if p]))
    return (*kept, *ordered)


# ---------------------------------------------------------------- linux
def resolve_resources(opts: RunOptions, host: HostFacts, devices: Sequence[Device] = ()) -> Resources:
    pids = Pids(limit=opts.pids_limit) if opts.pids_limit is not None and opts.pids_limit > 0 else None
    rules = (DeviceRule(allow=True, access="rwm"),) if opts.privileged else DEFAULT_DEVICES
    rules += tuple(DeviceRule(allow=True, type=d.type, major=d.major, minor=d.minor, access=access)
                   for d, access in zip(devices, _device_access(opts.devices), strict=True))
    return Resources(devices=rules, memory=_memory(opts, host), cpu=_cpu(opts), pids=pids)


def _memory(opts: RunOptions, host: HostFacts) -> Memory | None:
    """Limit, soft limit and memory+swap; without ``--memory-swap`` no swap at all (an OOM shows)."""
    if opts.memory is None and opts.memory_reservation is None:
        if opts.memory_swap is not None:
            raise InvalidOption("you should always set the memory limit when using memoryswap limit, see usage")
        return None
    swap = opts.memory if opts.memory_swap is None else opts.memory_swap
    if opts.memory is not None and swap is not None and swap != -1 and swap < opts.memory:
        raise InvalidOption("minimum memoryswap limit should be larger than memory limit, see usage")
    return Memory(limit=opts.memory, reservation=opts.memory_reservation,
                  swap=swap if host.swap_accounting and opts.memory is not None else None)


def _cpu(opts: RunOptions) -> Cpu | None:
    quota = period = None
    if opts.cpus is not None:
        if opts.cpus <= 0:
            raise InvalidOption(f"create container: invalid cpus value {opts.cpus}")
        quota, period = max(1000, round(opts.cpus * CPU_PERIOD)), CPU_PERIOD
    if opts.cpuset_cpus is not None and not _is_cpu_list(opts.cpuset_cpus):
        raise InvalidOption(f"invalid value {opts.cpuset_cpus} for cpuset cpus")
    if opts.cpu_shares is not None and opts.cpu_shares < 0:
        raise InvalidOption(f"invalid CPU shares {opts.cpu_shares}: must not be negative")
    if quota is None and not opts.cpu_shares and opts.cpuset_cpus is None:
        return None
    return Cpu(shares=opts.cpu_shares or None, quota=quota, period=period, cpus=opts.cpuset_cpus)


def _is_cpu_list(text: str) -> bool:
    """``0-3,5``: comma-separated CPU numbers and ascending ranges."""
    for part in text.split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and (not high.isdigit() or int(high) < int(low))):
            return False
    return True


# ---------------------------------------------------------------- --device
def _split_device(spec: str) -> tuple[str, str, str]:
    """docker's ``HOST[:CONTAINER][:PERMS]`` (a second field of only r, w, m is PERMS)."""
    parts = spec.split(":")
    if len(parts) > 3 or not parts[0]:
        raise InvalidOption(f"invalid device specification: {spec}")
    host = parts[0]
    container, access = host, "rwm"
    if len(parts) == 3:
        container, access = parts[1], parts[2]
    elif len(parts) == 2:
        if _is_access(parts[1]):
            access = parts[1]
        else:
            container = parts[1]
    if not _is_access(access) or not container.startswith("/"):
        raise InvalidOption(f"invalid device specification: {spec}")
    return host, container, access


def _is_access(text: str) -> bool:
    return 0 < len(text) <= 3 and len(set(text)) == len(text) and set(text) <= set("rwm")


def _device_access(specs: Sequence[str]) -> list[str]:
    return [_split_device(spec)[2] for spec in specs]


def device_mappings(specs: Sequence[str]) -> list[tuple[str, str, str]]:
    """(host path, container path, permissions) of each ``--device``."""
    return [_split_device(spec) for spec in specs]


def resolve_devices(specs: Sequence[str]) -> tuple[Device, ...]:
    """``--device``: the host nodes' type and numbers, created at the container paths (mode kept)."""
    out = []
    for spec in specs:
        host, container, _ = _split_device(spec)
        try:
            st = os.stat(host)
        except OSError as exc:
            raise InvalidOption(f"error gathering device information while adding custom device {host!r}: "
                                f"{exc.strerror}") from None
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            raise InvalidOption(f"error gathering device information while adding custom device {host!r}: "
                                "not a device node")
        out.append(Device(path=container, type="c" if stat.S_ISCHR(st.st_mode) else "b",
                          major=os.major(st.st_rdev), minor=os.minor(st.st_rdev),
                          file_mode=stat.S_IMODE(st.st_mode), uid=0, gid=0))
    return tuple(out)


# ---------------------------------------------------------------- namespaces and sysctls
_IPC_SYSCTLS = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                          "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"})


def check_namespace_modes(opts: RunOptions) -> None:
    """``--pid``/``--ipc``/``--uts`` values and their conflicts, as docker words them."""
    modes = (("pid", opts.pid, ("", "host")), ("ipc", opts.ipc, ("", "private", "shareable", "host")),
             ("uts", opts.uts, ("", "host")))
    for flag, value, allowed in modes:
        if value not in allowed:
            raise InvalidOption(f"invalid --{flag} mode {value!r}: lamina supports host (or, by default, "
                                "a namespace of the container's own)")
    if opts.uts == "host" and opts.hostname:
        raise InvalidOption("conflicting options: hostname and the UTS mode")


def check_sysctls(opts: RunOptions) -> None:
    """Only namespaced sysctls, and not those of a namespace shared with the host (docker's rules)."""
    for key in opts.sysctls:
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if opts.ipc == "host":
                raise InvalidOption(f"sysctl {key!r} is not allowed in host IPC mode")
        elif key.startswith("net."):
            if opts.network == "host":
                raise InvalidOption(f"sysctl {key!r} is not allowed in host network mode")
        else:
            raise InvalidOption(f"sysctl {key!r} is not allowed: only namespaced sysctls (kernel.msg*, kernel.sem, "
                                "kernel.shm*, fs.mqueue.*, net.*) can be set in a container")


def build_linux(opts: RunOptions, host: HostFacts, container_id: str, network_ns: str | None = None,
                capabilities: Sequence[str] | None = None) -> Linux:
    """*network_ns*: the netns file a ``bridge`` container joins (made when it starts); *capabilities*:
    the process's, when the caller resolved them already (the seccomp rules depend on them)."""
    kinds = [kind for kind, mode in (("pid", opts.pid), ("ipc", opts.ipc), ("uts", opts.uts)) if mode != "host"]
    kinds.append("mount")
    devices = resolve_devices(opts.devices)
    resources: Resources | None = resolve_resources(opts, host, devices)
    if not host.cgroups_usable:
        if opts.memory is not None or opts.cpus is not None or opts.pids_limit:
            log.warning("cgroups unusable on this host: ignoring memory/cpus/pids limits id=%s", container_id)
        resources = None
    parent = "/" + (opts.cgroup_parent or "lamina").strip("/")
    namespaces = [Namespace(type=k) for k in kinds]
    seccomp = resolve_seccomp(opts, resolve_capabilities(opts, host) if capabilities is None else capabilities)
    if opts.network != "host":
        namespaces.append(Namespace(type="network", path=network_ns if opts.network == "bridge" else None))
    return Linux(namespaces=tuple(namespaces), devices=devices, sysctl=dict(opts.sysctls),
                 resources=resources, seccomp=seccomp,
                 cgroups_path=f"{parent}/{container_id}" if host.cgroups_usable else None,
                 masked_paths=MASKED_PATHS if opts.system_paths and not opts.privileged else (),
                 readonly_paths=READONLY_PATHS if opts.system_paths and not opts.privileged else ())


def resolve_seccomp(opts: RunOptions, capabilities: Sequence[str]) -> dict[str, Any] | None:
    """The OCI seccomp section: docker's default profile unless ``--privileged`` or ``seccomp=unconfined``."""
    if opts.privileged or opts.seccomp == "unconfined":
        return None
    from lamina.runtime import seccomp
    profile = seccomp.default_profile() if opts.seccomp == "default" else seccomp.load_profile(opts.seccomp)
    return seccomp.oci_section(profile, capabilities) if profile is not None else None


# ---------------------------------------------------------------- the whole config
def resolve_hostname(opts: RunOptions, container_id: str, host: HostFacts | None = None) -> str:
    """``opts.hostname``, else the host's name with host networking, else the short id."""
    if opts.hostname:
        return opts.hostname
    if opts.network == "host" or opts.uts == "host":
        return (host or probe_host()).hostname
    return container_id[:12]


def resolve_workdir(image_config: Mapping[str, Any], opts: RunOptions) -> str:
    cwd = opts.workdir or image_config.get("WorkingDir") or "/"
    if not cwd.startswith("/"):
        raise InvalidOption(f"the working directory {cwd!r} is invalid, it needs to be an absolute path")
    return str(cwd)


def build_runtime_config(image_config: Mapping[str, Any], opts: RunOptions, rootfs: Path, *,
                         container_id: str, etc_files: Path, host: HostFacts | None = None,
                         network_ns: str | None = None, seccomp_cache: Path | None = None) -> dict[str, Any]:
    """config.json for a bundle whose root is *rootfs* (absolute) and whose /etc files are in *etc_files*.

    With *seccomp_cache*, the seccomp program is compiled once into that directory and passed to
    crun precompiled (``lamina.runtime.seccomp``).

    *image_config* is the image config's ``config`` object (Env, Cmd, Entrypoint,
    WorkingDir, User, …; may be empty). Raises ``InvalidOption`` for a bad user,
    workdir, mount, capability or ulimit, or when no command is left.
    """
    host = host or probe_host()
    check_namespace_modes(opts)
    if opts.sysctls:
        check_sysctls(opts)
    hostname = resolve_hostname(opts, container_id, host)
    user = resolve_user(rootfs, opts.user if opts.user is not None else image_config.get("User") or "")
    env = build_env(list(image_config.get("Env") or []), list(opts.env), hostname=hostname,
                    tty=opts.tty, home=user.home)
    caps = resolve_capabilities(opts, host)
    groups = tuple(dict.fromkeys(user.additional_gids + resolve_group_add(rootfs, opts.group_add)))
    defaults = default_mounts(opts, etc_files)
    args = with_init(resolve_args(image_config, opts), defaults, opts)
    process = Process(
        args=tuple(args), env=tuple(env), cwd=resolve_workdir(image_config, opts),
        user=User(uid=user.uid, gid=user.gid, additional_gids=groups), terminal=opts.tty,
        rlimits=resolve_rlimits(opts, host),
        capabilities=Capabilities(bounding=caps, effective=caps, permitted=caps),
        no_new_privileges=opts.no_new_privileges, oom_score_adj=opts.oom_score_adj)
    mounts = merge_mounts(defaults, [user_mount(m) for m in opts.mounts])
    linux = build_linux(opts, host, container_id, network_ns, caps)
    annotations: dict[str, str] = {}
    if linux.seccomp is not None and seccomp_cache is not None:
        from lamina.runtime.seccomp import bpf_annotation
        annotations = bpf_annotation(linux.seccomp, seccomp_cache)
    config = RuntimeConfig(process=process, root=Root(path=str(rootfs), readonly=opts.read_only),
                           hostname=None if opts.uts == "host" else hostname,
                           domainname=None if opts.uts == "host" else opts.domainname, mounts=mounts, linux=linux,
                           annotations=annotations)
    return config.to_dict()


# ---------------------------------------------------------------- /etc files
def _filtered_resolv(text: str) -> str:
    """docker's FilterResolvDNS: drop localhost nameservers; fall back to public DNS."""
    lines = [ln for ln in text.splitlines()
             if not (ln.split()[:1] == ["nameserver"] and _is_local(ln.split()[1:2]))]
    out = "".join(ln + "\n" for ln in lines)
    if not any(ln.split()[:1] == ["nameserver"] for ln in lines):
        out += FALLBACK_DNS
    return out


def _is_local(addr: list[str]) -> bool:
    return bool(addr) and (addr[0].startswith("127.") or addr[0] == "::1")


def write_etc_files(directory: Path, hostname: str, network: Network, *, opts: RunOptions | None = None,
                    host_etc: Path = Path("/etc")) -> None:
    """Write hostname, hosts and resolv.conf for a container into *directory* (created).

    *opts* brings ``--add-host`` lines and ``--dns``/``--dns-search``/``--dns-option``, as docker writes them.
    """
    directory.mkdir(parents=True, exist_ok=True)

    def host_file(name: str) -> str:
        try:
            return (host_etc / name).read_text(errors="replace")
        except OSError:
            return ""

    (directory / "hostname").write_text(f"{hostname}\n")
    if network == "host":
        hosts, resolv = host_file("hosts") or HOSTS_DEFAULT, host_file("resolv.conf")
    else:
        hosts, resolv = HOSTS_DEFAULT, _filtered_resolv(host_file("resolv.conf"))
    if opts is not None:
        hosts += extra_hosts_text(opts.extra_hosts)
        resolv = _resolv_with(resolv, opts)
    (directory / "hosts").write_text(hosts)
    (directory / "resolv.conf").write_text(resolv)


def extra_hosts_text(extra_hosts: Sequence[str], gateway: str | None = None) -> str:
    """``--add-host name:ip`` lines for /etc/hosts; ``host-gateway`` is the bridge's gateway address."""
    lines = []
    for item in extra_hosts:
        name, _, address = _split_add_host(item)
        if address == "host-gateway":
            from lamina.network.bridge import GATEWAY
            address = gateway or GATEWAY
        lines.append(f"{address}\t{name}\n")
    return "".join(lines)


def _split_add_host(item: str) -> tuple[str, str, str]:
    """``name:ip`` (or docker's newer ``name=ip``) as (name, separator, ip)."""
    return item.replace("=", ":", 1).partition(":")


def _resolv_with(resolv: str, opts: RunOptions) -> str:
    """docker's rule: each of --dns, --dns-search, --dns-option replaces the host's lines of its kind."""
    if not (opts.dns or opts.dns_search or opts.dns_options):
        return resolv
    keep = {"nameserver": not opts.dns, "search": not opts.dns_search, "domain": not opts.dns_search,
            "options": not opts.dns_options}
    lines = [ln for ln in resolv.splitlines() if keep.get((ln.split() or [""])[0], True)]
    lines += [f"nameserver {server}" for server in opts.dns]
    searches = [d for d in opts.dns_search if d != "."]
    lines += [f"search {' '.join(searches)}"] if searches else []
    lines += [f"options {' '.join(opts.dns_options)}"] if opts.dns_options else []
    return "".join(ln + "\n" for ln in lines)


def dns_resolv_conf(server: str, domain: str, options: Mapping[str, Any]) -> bytes:
    """resolv.conf on a user network: its DNS server (the containers' names, the host's servers behind
    it), *domain* searched after ``--dns-search``, ``--dns-option`` kept."""
    searches = [d for d in options.get("dns_search") or () if d != "."]
    lines = [f"search {' '.join([*searches, domain])}", f"nameserver {server}"]
    if options.get("dns_options"):
        lines.append("options " + " ".join(options["dns_options"]))
    return "".join(line + "\n" for line in lines).encode()


def check_network_options(opts: RunOptions) -> None:
    """Bad ``--add-host`` and ``--dns`` values: InvalidOption naming the value, as docker does."""
    for item in opts.extra_hosts:
        name, sep, address = _split_add_host(item)
        if not sep or not name or not (address == "host-gateway" or _is_address(address)):
            raise InvalidOption(f"invalid argument {item!r} for \"--add-host\" flag: invalid IP address in add-host")
    for server in opts.dns:
        if not _is_address(server):
            raise InvalidOption(f"{server} is not an ip address")


def _is_address(text: str) -> bool:
    import ipaddress
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
