"""ContainerManager: create / start / stop / kill / wait / rm / exec / top, and crash reconciliation.

Must not resolve image names or talk to the image store (``engine.containers`` does and
passes a ``CreateRequest``), must not print, and must not import ``build``.

A container is the image's top layer plus, for records that can be committed, docker's
``<id>-init`` layer (empty mount points: /proc, /sys, /dev, /etc/hosts …, so crun's
mkdirs never show up in ``diff``), plus the writable layer ``<id>``. ``--rm`` containers
skip the init layer: nobody can diff them. The rw layer is mounted while the container
runs (the starter mounts, whoever waits for the init unmounts) and briefly for cp/diff.

State changes go through ``update_state`` (per-container lock, atomic state.json).
Reconciliation (``reconcile``, run when the service opens) removes records whose
creation crashed and marks running containers whose watcher died and whose process is
gone as exited (docker's code 255, or 128+N when lamina sent signal N).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path

from lamina._internal.fsops import atomic_write, rmtree
from lamina._internal.locking import try_lock
from lamina._internal.logs import get_logger
from lamina._internal.records import Record, field, fields, record, replace
from lamina.container.model import (
    Container,
    ContainerState,
    MountRecord,
    State,
    check_transition,
    random_name,
    timestamp_ns,
)
from lamina.container.monitor import Attach, Supervisor, error_from_report, process_alive, proxy_signals
from lamina.container.ocispec import (
    HOSTS_DEFAULT,
    HostFacts,
    MountSpec,
    RunOptions,
    build_runtime_config,
    dns_resolv_conf,
    extra_hosts_text,
    probe_host,
    resolve_hostname,
    resolve_user,
    write_etc_files,
)
from lamina.container.store import ContainerStore, validate_name
from lamina.errors import (
    ContainerNotFound,
    ContainerRunning,
    InvalidOption,
    InvalidStateTransition,
    LaminaError,
    LayerNotFound,
    RuntimeFailed,
    StoreCorrupted,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import io
    import tarfile
    from typing import Any

    from lamina._internal.cgroups import Usage
    from lamina.container.volumes import VolumeRequest, VolumeStore
    from lamina.driver.protocol import Driver
    from lamina.network.bridge import BridgeNetwork
    from lamina.network.networks import Network, NetworkStore
    from lamina.network.ports import PortMapping
    from lamina.runtime.protocol import Runtime

log = get_logger(__name__)

INIT_DIRS = ("dev", "dev/pts", "dev/shm", "etc", "proc", "sys")
INIT_FILES = ("etc/hostname", "etc/hosts", "etc/resolv.conf")
UNKNOWN_EXIT = 255


@record
class CreateRequest(Record):
    """A resolved image plus docker-run options; built by ``engine.containers``."""

    image_id: str
    image_name: str
    image_config: Mapping[str, Any]          # the image config's "config" object
    parent_layer_id: str | None              # the image's top layer (None: empty image)
    options: RunOptions                      # mounts come from ``volumes``
    volumes: Sequence[VolumeRequest] = ()
    name: str | None = None
    auto_remove: bool = False
    interactive: bool = False
    stop_signal: str | None = None           # overrides the image's StopSignal
    stop_timeout: int | None = None          # seconds; docker's default is 10
    labels: Mapping[str, str] = field(default_factory=dict)


_SIGKILL = 9


def signal_number(name: str | int) -> int:
    """"SIGTERM", "TERM", "15" or 15 → 15; ``InvalidOption`` otherwise."""
    text = str(name).strip().upper()
    if text.isdigit():
        return int(text)
    import signal as signals  # its enums cost start-up; run never needs them
    try:
        return int(signals.Signals[text if text.startswith("SIG") else "SIG" + text])
    except KeyError:
        raise InvalidOption(f"invalid signal: {name}") from None


def _tar_entry(view: Path | None, name: str, kind: bytes) -> tarfile.TarInfo | None:
    """A tar header for *name* copying the image's own attributes when it has the path.

    None when the image has something else there (a symlink, a file where a dir is wanted):
    then the init layer leaves the path alone and crun creates what it needs.
    """
    import tarfile
    info = tarfile.TarInfo(name)
    info.type, info.mode = kind, 0o755 if kind == tarfile.DIRTYPE else 0o644
    if view is None:
        return info
    try:
        st = os.lstat(view / name)
    except FileNotFoundError:
        return info
    wanted = stat.S_ISDIR if kind == tarfile.DIRTYPE else stat.S_ISREG
    if not wanted(st.st_mode):
        return None
    info.mode, info.uid, info.gid, info.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)
    return info


def init_tar(view: Path | None, dirs: Sequence[str], files: Sequence[str]) -> io.BytesIO:
    """docker's init layer: mount points (and their parents) as in the image, files empty."""
    import io
    import tarfile
    entries: dict[str, tarfile.TarInfo] = {}
    skipped: set[str] = set()

    def add(path: str, kind: bytes) -> None:
        parts = [p for p in path.split("/") if p]
        for i in range(len(parts)):
            name = "/".join(parts[: i + 1])
            last = i == len(parts) - 1
            if name in skipped:
                return
            if name not in entries:
                info = _tar_entry(view, name, kind if last else tarfile.DIRTYPE)
                if info is None:
                    skipped.add(name)
                    return
                entries[name] = info
    for path in (*INIT_DIRS, *dirs):
        add(path, tarfile.DIRTYPE)
    for path in (*INIT_FILES, *files):
        add(path, tarfile.REGTYPE)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            info = entries[name]
            tar.addfile(info, io.BytesIO(b"") if info.type == tarfile.REGTYPE else None)
    buf.seek(0)
    return buf


def mount_points(request: CreateRequest) -> tuple[list[str], list[str]]:
    """(directories, files) the container's mounts need as mount points."""
    dirs: list[str] = []
    files: list[str] = []
    for req in request.volumes:
        is_file = req.kind == "bind" and os.path.isfile(req.source)
        (files if is_file else dirs).append(req.destination)
    dirs += [os.path.normpath(p) for p in request.image_config.get("Volumes") or {}]
    return dirs, files


class ContainerManager:
    """Container lifecycle over a record store, a storage driver, a runtime and the volumes."""

    def __init__(self, *, store: ContainerStore, volumes: VolumeStore | Callable[[], VolumeStore],
                 driver: Callable[[], Driver],
                 runtime: Callable[[], Runtime], root: Path, run_dir: Path, driver_name: Callable[[], str],
                 runtime_binary: str | None = None, host: HostFacts | None = None) -> None:
        self.store = store
        self._volumes = volumes  # a store, or a factory: the volumes module is off ``run``'s start-up path
        self._driver_factory = driver
        self._runtime_factory = runtime
        self.root = root
        self.run_dir = run_dir
        self._driver_name = driver_name
        self.runtime_binary = runtime_binary
        self._host = host

    @classmethod
    def for_monitor(cls, *, root: Path, run_dir: Path, driver_name: str,
                    runtime_binary: str | None = None) -> ContainerManager:
        """The manager a monitor process builds from its argv (no engine, no sqlite)."""
        def driver() -> Driver:
            from lamina.driver import select
            return select(driver_name, root / "storage")

        def runtime() -> Runtime:
            from lamina.runtime.crun import CrunRuntime
            return CrunRuntime(runtime_binary, state_root=run_dir / "crun")
        def volumes() -> VolumeStore:
            from lamina.container.volumes import VolumeStore
            return VolumeStore(root / "volumes")
        return cls(store=ContainerStore(root / "containers"), volumes=volumes,
                   driver=driver, runtime=runtime, root=root, run_dir=run_dir,
                   driver_name=lambda: driver_name, runtime_binary=runtime_binary)

    @cached_property
    def volumes(self) -> VolumeStore:
        return self._volumes() if callable(self._volumes) else self._volumes

    @cached_property
    def driver(self) -> Driver:
        return self._driver_factory()

    @cached_property
    def runtime(self) -> Runtime:
        return self._runtime_factory()

    @property
    def networks(self) -> NetworkStore:
        """The user networks of this root (``network create``)."""
        from lamina.network.networks import NetworkStore
        return NetworkStore(self.root / "networks")

    @cached_property
    def network(self) -> BridgeNetwork:
        from lamina.network.bridge import BridgeNetwork
        return BridgeNetwork()

    @property
    def host(self) -> HostFacts:
        if self._host is None:
            self._host = probe_host()
        return self._host

    # ------------------------------------------------------------ reading
    def get(self, name_or_id: str) -> tuple[Container, ContainerState]:
        container = self.store.resolve(name_or_id)
        return container, self.store.state(container.id)

    def list(self) -> list[tuple[Container, ContainerState]]:
        return [(c, self.store.state(c.id)) for c in self.store.list()]

    def update_state(self, container_id: str, **changes: Any) -> ContainerState | None:
        """Read-modify-write state.json under the container lock; None when the record is gone.

        Keys that are not ``ContainerState`` fields go into ``extra``.
        """
        path = self.store.dir(container_id)
        if not (path / "config.json").exists():
            return None
        with self.store.lock(container_id):
            if not (path / "config.json").exists():
                return None
            state = self.store.state(container_id)
            known = {k: v for k, v in changes.items() if k in fields(ContainerState)}
            extra = {**state.extra, **{k: v for k, v in changes.items() if k not in known}}
            state = replace(state, **known, extra=extra)
            if _unsettled(state):   # the mark goes before a state that reconciliation must see
                self.store.unsettle(container_id)
            self.store.save_state(container_id, state)
        return state

    # ------------------------------------------------------------ create
    def _free_name(self) -> str:
        for _ in range(20):
            name = random_name()
            if not (self.store.names / name).exists():
                return name
        return f"{random_name()}_{os.urandom(2).hex()}"

    def create(self, request: CreateRequest, *, keep_mounted: bool = False) -> Container:
        """Make the record, its layers, volumes and bundle. Nothing is left behind on error.

        With *keep_mounted* the rw layer stays mounted (one reference the caller hands
        to ``start``). Raises ``NameInUse``, ``InvalidOption`` (bad user, workdir, mount…).
        """
        cid = os.urandom(32).hex()
        name = validate_name(request.name) if request.name else self._free_name()
        lock = self.store.reserve(cid, name)
        try:
            try:
                container = self._build(cid, name, request, keep_mounted=keep_mounted)
                # run: the record says who is about to start it, so that a CLI killed before the
                # start is noticed (reconcile) instead of leaving a created, mounted container for good
                extra = {"starter": _this_process(), "mounted": True} if keep_mounted else {}
                self.store.commit(container, ContainerState(extra=extra))
            except BaseException:
                self._discard_incomplete(cid, name)
                raise
        finally:
            lock.release()
        log.debug("container created id=%s name=%s image=%s", cid, name, request.image_id)
        if not keep_mounted:
            self.store.settle(cid)
        self.event(container, "create")
        return container

    def _build(self, cid: str, name: str, request: CreateRequest, *, keep_mounted: bool) -> Container:
        driver = self.driver
        parent = request.parent_layer_id
        init_id = None
        if not request.auto_remove:
            init_id = f"{cid}-init"
            self._make_init_layer(init_id, parent, request)
        driver.create(cid, init_id or parent, writable=True)
        rootfs = driver.mount(cid)
        try:
            specs, records = self._resolve_mounts(cid, request, rootfs)
            opts = replace(request.options, mounts=tuple(specs))
            config = self._write_bundle(cid, request, opts, rootfs)
        except BaseException:
            driver.unmount(cid)
            raise
        if not keep_mounted:
            driver.unmount(cid)
        process = config["process"]
        command = process["args"][2:] if opts.init else process["args"]  # the init is not the command
        return Container(
            id=cid, name=name, image_id=request.image_id, image_name=request.image_name, layer_id=cid,
            init_layer_id=init_id, parent_layer_id=request.parent_layer_id, created=_now(),
            path=command[0], args=tuple(command[1:]), env=tuple(process.get("env", ())),
            hostname=str(config.get("hostname", "")), options=_options_json(opts),
            image_config=dict(request.image_config), mounts=tuple(records),
            auto_remove=request.auto_remove, tty=opts.tty, interactive=request.interactive,
            stop_signal=str(request.stop_signal or request.image_config.get("StopSignal") or "SIGTERM"),
            stop_timeout=10 if request.stop_timeout is None else request.stop_timeout,
            labels=dict(request.labels))

    def _make_init_layer(self, init_id: str, parent: str | None, request: CreateRequest) -> None:
        driver = self.driver
        dirs, files = mount_points(request)
        view = driver.mount(parent) if parent and (dirs or files) else None
        try:
            tar = init_tar(view, dirs, files)
        finally:
            if view is not None and parent:
                driver.unmount(parent)
        driver.create(init_id, parent)
        driver.apply_diff(init_id, parent, tar)

    def _write_bundle(self, cid: str, request: CreateRequest, opts: RunOptions, rootfs: Path) -> dict[str, Any]:
        bundle = self.store.bundle(cid)
        etc = bundle / "etc"
        hostname = resolve_hostname(opts, cid, self.host)
        write_etc_files(etc, hostname, opts.network, opts=opts)
        netns = str(self.netns_path(cid)) if opts.network == "bridge" else None
        config = build_runtime_config(request.image_config, opts, rootfs, container_id=cid, etc_files=etc,
                                      host=self.host, network_ns=netns, seccomp_cache=self.run_dir / "seccomp")
        self.store.save_runtime_config(cid, config)
        return config

    def _resolve_mounts(self, cid: str, request: CreateRequest,
                        rootfs: Path) -> tuple[builtins.list[MountSpec], builtins.list[MountRecord]]:
        wanted = list(request.volumes)
        taken = {r.destination for r in wanted}
        for path in request.image_config.get("Volumes") or {}:
            dest = os.path.normpath(path)
            if dest not in taken:  # image VOLUME without a user mount: an anonymous volume
                from lamina.container.volumes import VolumeRequest
                wanted.append(VolumeRequest(kind="volume", destination=dest))
                taken.add(dest)
        specs, records = [], []
        for req in wanted:
            spec, record = self._mount_one(cid, req, rootfs)
            specs.append(spec)
            records.append(record)
        return specs, records

    def _mount_one(self, cid: str, req: VolumeRequest, rootfs: Path) -> tuple[MountSpec, MountRecord]:
        if req.kind == "tmpfs":
            return (MountSpec(kind="tmpfs", destination=req.destination, read_only=req.read_only,
                              options=req.options),
                    MountRecord(type="tmpfs", destination=req.destination, read_only=req.read_only))
        if req.kind == "bind":
            if req.create_host_dir and not os.path.exists(req.source):
                os.makedirs(req.source, exist_ok=True)
            return (MountSpec(kind="bind", source=req.source, destination=req.destination,
                              read_only=req.read_only, options=req.options),
                    MountRecord(type="bind", source=req.source, destination=req.destination,
                                read_only=req.read_only))
        if req.shared:
            volume = self.volumes.get(req.source)
            return (MountSpec(kind="volume", source=str(volume.mountpoint), destination=req.destination,
                              read_only=req.read_only),
                    MountRecord(type="volume", name=volume.name, source=str(volume.mountpoint),
                                destination=req.destination, read_only=req.read_only))
        volume = self.volumes.create(req.source or None)
        if volume.anonymous:
            with open(self.store.dir(cid) / "volumes.created", "a") as f:
                f.write(volume.name + "\n")
        if not req.nocopy:
            seed_volume(volume.mountpoint, rootfs, req.destination)
        return (MountSpec(kind="volume", source=str(volume.mountpoint), destination=req.destination,
                          read_only=req.read_only),
                MountRecord(type="volume", name=volume.name, source=str(volume.mountpoint),
                            destination=req.destination, read_only=req.read_only, anonymous=volume.anonymous))

    def _discard_incomplete(self, cid: str, name: str | None) -> None:
        """Undo a creation: layers, anonymous volumes made for it, the record and its name."""
        driver = self.driver
        for layer in (cid, f"{cid}-init"):
            with contextlib.suppress(LaminaError, OSError):
                if driver.exists(layer):
                    driver.remove(layer)
        created = self.store.dir(cid) / "volumes.created"
        if created.exists():
            for volume in created.read_text().split():
                with contextlib.suppress(LaminaError, OSError):
                    self.volumes.remove(volume, force=True)
        if name is None:
            name = self._name_of(cid)
        self.store.delete(cid, name)

    def _name_of(self, cid: str) -> str | None:
        if not self.store.names.is_dir():
            return None
        for entry in self.store.names.iterdir():
            with contextlib.suppress(OSError):
                if entry.read_text().strip() == cid:
                    return entry.name
        return None

    # ------------------------------------------------------------ start / run
    def start(self, name_or_id: str, *, attach: Attach | None = None, mounted: bool = False) -> int:
        """Start a created or exited container. Detached (*attach* None): returns 0 once it runs;
        attached: waits and returns its exit status. Starting a running container is a no-op.

        Raises ``CommandNotFound`` (127), ``CommandNotExecutable`` (126), ``RuntimeFailed``.
        """
        container, state = self.get(name_or_id)
        if state.running:
            if mounted:
                self.driver.unmount(container.id)
            return 0
        check_transition(container.name, state.status, State.RUNNING, "start")
        self._begin_start(container.id)
        if not mounted:
            try:
                self.driver.mount(container.id)
            except BaseException:
                self.update_state(container.id, mounted=False)
                raise
        if attach is not None:
            return Supervisor(self, container).run(attach)
        self._spawn_monitor(container)
        return 0

    def _begin_start(self, container_id: str) -> None:
        """Under the container lock: no settled mark any more (reconciliation looks at it from now
        on) and the mounted mark set before the mount, so that a concurrent ``finalize`` cannot mark
        it settled again; the stop/kill mark of a restart policy is cleared."""
        with self.store.lock(container_id):
            self.store.unsettle(container_id)
            state = self.store.state(container_id)
            extra = {**state.extra, "mounted": True, "manual_stop": False}
            self.store.save_state(container_id, replace(state, extra=extra))

    def _spawn_monitor(self, container: Container) -> None:
        read_fd, write_fd = os.pipe()
        argv = [sys.executable, "-m", "lamina.container.monitor", "--root", str(self.root),
                "--run-dir", str(self.run_dir), "--driver", self._driver_name(),
                "--status-fd", str(write_fd), *(["--runtime", self.runtime_binary] if self.runtime_binary else []),
                container.id]
        import subprocess
        log_file = open(self.store.dir(container.id) / "monitor.log", "ab")  # noqa: SIM115
        try:
            child = subprocess.Popen(argv, pass_fds=(write_fd,), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=log_file, close_fds=True)
        finally:
            os.close(write_fd)
            log_file.close()
        with os.fdopen(read_fd, "rb") as status:
            line = status.readline()
        child.wait()
        report = json.loads(line) if line.strip() else {"error": "RuntimeFailed",
                                                         "message": "start container: the monitor died"}
        if not report.get("ok"):
            raise error_from_report(report)

    def run(self, request: CreateRequest, *, attach: Attach | None) -> tuple[Container, int]:
        """create + start; attached: (container, exit status), detached: (container, 0)."""
        container = self.create(request, keep_mounted=True)
        return container, self.start(container.id, attach=attach, mounted=True)

    # ------------------------------------------------------------ network
    def event(self, container: Container, action: str, **attributes: str) -> None:
        """Record a container event (``lamina events``) with docker's attributes."""
        from lamina._internal.events import emit
        emit(self.root, "container", action, container.id,
             {"image": container.image_name, "name": container.name, **attributes})

    def netns_path(self, container_id: str) -> Path:
        """The netns file of a ``bridge`` container while it runs (the bundle names it)."""
        return self.run_dir / "netns" / container_id

    def connect(self, container: Container) -> None:
        """Before a ``bridge`` container starts: its netns, address and host ports, and /etc/hosts.
        Before one that shares namespaces with others (``container:NAME``): their paths."""
        if container.options.get("join"):
            self._join_namespaces(container, dict(container.options["join"]))
        if container.options.get("network") != "bridge":
            return
        mappings = _mappings(container)
        netns = self.netns_path(container.id)
        net = None
        if container.options.get("network_name"):
            net = self.networks.get(str(container.options["network_name"]))
        attachment = self.network.attach(container.id, netns, mappings, net=net, name=container.name,
                                         aliases=container.options.get("network_aliases") or (),
                                         ip=container.options.get("ip"), mac=container.options.get("mac_address"))
        try:
            self.update_state(container.id, network=attachment.to_json())
            extra = extra_hosts_text(container.options.get("extra_hosts") or (), attachment.gateway)
            hosts = HOSTS_DEFAULT + extra + f"{attachment.address}\t{container.hostname}\n"
            etc = self.store.bundle(container.id) / "etc"
            atomic_write(etc / "hosts", hosts.encode(), durable=False)
            if attachment.dns and not container.options.get("dns"):   # names of the network's containers
                from lamina.network.networks import DNS_DOMAIN
                resolv = dns_resolv_conf(attachment.gateway, DNS_DOMAIN, container.options)
                atomic_write(etc / "resolv.conf", resolv, durable=False)
            if container.options.get("connected"):
                from lamina.container.netconnect import plug_all
                plug_all(self, container)
        except BaseException:
            self.network.detach(container.id, netns, attachment)
            raise

    def _join_namespaces(self, container: Container, join: dict[str, str]) -> None:
        """Point the bundle's namespaces at the running containers it shares them with (their init's
        ``/proc/PID/ns/…`` now: an init that restarted has another pid); a shared network brings that
        container's /etc/hosts and resolv.conf."""
        bundle = self.store.bundle(container.id)
        config = self.store.runtime_config(container.id)
        for kind, target in join.items():
            other, state = self.get(target)
            if not state.running or not state.pid:
                raise InvalidStateTransition(other.name, state.status.value, f"join the {kind} namespace of")
            ns = {"network": "net"}.get(kind, kind)
            for entry in config["linux"]["namespaces"]:
                if entry["type"] == kind:
                    entry["path"] = f"/proc/{state.pid}/ns/{ns}"
            if kind == "network":
                for name in ("hosts", "resolv.conf"):
                    atomic_write(bundle / "etc" / name, (self.store.bundle(other.id) / "etc" / name).read_bytes(),
                                 durable=False)
        self.store.save_runtime_config(container.id, config)

    def disconnect(self, container_id: str, state: ContainerState) -> None:
        """After it exited: CNI DEL, the netns and the port claims (also what a crash left)."""
        if self._leave_network(container_id, state):
            with contextlib.suppress(ContainerNotFound):
                self.update_state(container_id, network=None, networks=None)

    def _leave_network(self, container_id: str, state: ContainerState) -> bool:
        """``disconnect`` without the record update (for callers holding the container lock)."""
        data = state.extra.get("network")
        netns = self.netns_path(container_id)
        if not data and not netns.exists():
            return False
        from lamina.container.netconnect import unplug_all
        unplug_all(self, container_id, state)
        from lamina.network.bridge import Attachment
        if data:
            self.network.detach(container_id, netns, Attachment.from_json(data))
            return True
        net, name = self._network_of(container_id)   # a crash between CNI ADD and the record
        self.network.detach(container_id, netns, None, net=net, name=name)
        return True

    def _network_of(self, container_id: str) -> tuple[Network | None, str | None]:
        """The user network a container's record names (None: the default bridge), and its name."""
        try:
            container = self.store.load(container_id)
        except (ContainerNotFound, StoreCorrupted):
            return None, None
        network_name = container.options.get("network_name")
        if not network_name:
            return None, container.name
        with contextlib.suppress(LaminaError):
            return self.networks.get(str(network_name)), container.name
        return None, container.name

    def finalize(self, container_id: str) -> None:
        """After the init exited: leave the network, drop the rw layer's mount and honour ``--rm``."""
        try:
            container, state = self.get(container_id)
        except ContainerNotFound:
            return
        remove = container.auto_remove and not state.running
        if not state.running:
            self.disconnect(container_id, state)
        if state.extra.get("mounted"):
            with contextlib.suppress(LayerNotFound):
                self.driver.unmount(container.id)
            if not remove:  # a record being removed keeps the mark: reconcile finishes an interrupted --rm
                self.update_state(container_id, mounted=False)
        if remove:
            with contextlib.suppress(ContainerNotFound):
                self.remove(container.id, force=True, volumes=True)
        elif not state.running:
            self._settle(container_id)

    def _settle(self, container_id: str) -> None:
        """Mark a stopped, unmounted container settled (reconciliation skips it), under its lock so that
        a ``start`` in between (which sets the mounted mark first) keeps it unmarked."""
        if not (self.store.dir(container_id) / "config.json").exists():
            return   # removed: taking its lock would make its directory again
        with self.store.lock(container_id):
            if not (self.store.dir(container_id) / "config.json").exists():
                return
            if not _unsettled(self.store.state(container_id)):
                self.store.settle(container_id)

    # ------------------------------------------------------------ signals and waiting
    def _signal(self, container: Container, sig: int) -> None:
        self.update_state(container.id, last_signal=sig)
        self.event(container, "kill", signal=str(sig))
        try:
            self.runtime.kill(container.id, sig)
        except (InvalidStateTransition, ContainerNotFound):
            state = self.store.state(container.id)
            if state.pid and process_alive(state.pid, int(state.extra.get("starttime", 0))):
                os.kill(state.pid, sig)

    def kill(self, name_or_id: str, sig: str | int = "SIGKILL") -> Container:
        container, state = self.get(name_or_id)
        number = signal_number(sig)
        if not state.running:
            raise InvalidStateTransition(container.name, state.status.value, "kill")
        self.update_state(container.id, manual_stop=True)   # a restart policy leaves it stopped
        self._signal(container, number)
        self._thaw_for_signal(container, state)
        if number == _SIGKILL:
            self.wait_exit(container.id, 5)
        return container

    def stop(self, name_or_id: str, timeout: float | None = None, sig: str | None = None) -> Container:
        """docker stop: the stop signal (*sig*, else the container's), then SIGKILL after *timeout* (the
        container's default: 10 s)."""
        container, state = self.get(name_or_id)
        if not state.running:
            return container
        grace = container.stop_timeout if timeout is None else timeout
        self.update_state(container.id, manual_stop=True)   # a restart policy leaves it stopped
        self._signal(container, signal_number(sig or container.stop_signal))
        self._thaw_for_signal(container, state)
        if self.wait_exit(container.id, max(grace, 0)) is None:
            self._signal(container, _SIGKILL)
            self.wait_exit(container.id, 30)
        self._wait_settled(container.id)
        self.event(container, "stop")
        return container

    def _wait_settled(self, container_id: str, timeout: float = 10) -> None:
        """Wait for the container's watcher to finish its cleanup (network, mount) after the exit."""
        from lamina._internal.locking import FileLock
        with contextlib.suppress(LaminaError, OSError), \
                FileLock(self.store.monitor_lock_path(container_id), timeout=timeout):
            pass

    def rename(self, name_or_id: str, new_name: str) -> Container:
        """docker rename (running or not): ``NameInUse``, ``InvalidOption`` for a bad or unchanged name."""
        container, _ = self.get(name_or_id)
        name = validate_name(new_name)
        if name == container.name:
            raise InvalidOption(f"renaming a container with the same name as its current name: {name}")
        with self.store.lock(container.id):
            renamed = self.store.rename(self.store.load(container.id), name)
        self.event(renamed, "rename", oldName="/" + container.name)
        return renamed

    # ------------------------------------------------------------ update
    UPDATABLE = ("memory", "memory_swap", "memory_reservation", "cpus", "cpu_shares", "cpuset_cpus", "pids_limit",
                 "restart")

    def update(self, name_or_id: str, **changes: Any) -> Container:
        """docker update: new limits (and restart policy) in the record and the bundle, and in the
        cgroups of a running container. ``InvalidOption`` for a bad combination, as ``run`` words it."""
        unknown = set(changes) - set(self.UPDATABLE)
        if unknown:
            raise InvalidOption(f"update: cannot change {sorted(unknown)[0]}")
        container, _ = self.get(name_or_id)
        if changes.get("restart", "no") != "no" and container.auto_remove:
            raise InvalidOption("restart policy cannot be updated because AutoRemove is enabled for the container")
        with self.store.lock(container.id):
            container = self.store.load(container.id)
            opts = _run_options({**container.options, **changes})
            from lamina.container.ocispec import resolve_resources
            resources = resolve_resources(opts, self.host).to_dict()
            updated = replace(container, options={**container.options, **_options_json(replace(opts, mounts=()))})
            config = self.store.runtime_config(container.id)
            if self.host.cgroups_usable:
                config["linux"]["resources"] = resources
            if self.store.state(container.id).running and self.host.cgroups_usable:
                self.runtime.update(container.id, resources)
            self.store.save_runtime_config(container.id, config)
            self.store.save(updated)
        self.event(updated, "update")
        return updated

    # ------------------------------------------------------------ pause
    def pause(self, name_or_id: str) -> Container:
        """docker pause: freeze every process (cgroup freezer); ``InvalidStateTransition`` unless running."""
        return self._freeze(name_or_id, frozen=True)

    def unpause(self, name_or_id: str) -> Container:
        """docker unpause; ``InvalidStateTransition`` unless paused."""
        return self._freeze(name_or_id, frozen=False)

    def _freeze(self, name_or_id: str, *, frozen: bool) -> Container:
        container, state = self.get(name_or_id)
        wanted, now = (State.RUNNING, State.PAUSED) if frozen else (State.PAUSED, State.RUNNING)
        if state.status is not wanted:
            raise InvalidStateTransition(container.name, state.status.value, "pause" if frozen else "unpause")
        (self.runtime.pause if frozen else self.runtime.resume)(container.id)
        self.update_state(container.id, status=now)
        self.event(container, "pause" if frozen else "unpause")
        return container

    @contextlib.contextmanager
    def paused(self, name_or_id: str) -> Iterator[None]:
        """Freeze a running container for the block (``commit -p``); anything else is left alone."""
        container, state = self.get(name_or_id)
        if state.status is not State.RUNNING:
            yield
            return
        self.pause(container.id)
        try:
            yield
        finally:
            with contextlib.suppress(InvalidStateTransition, ContainerNotFound):
                self.unpause(container.id)

    def _thaw_for_signal(self, container: Container, state: ContainerState) -> None:
        """A frozen process gets a signal only when thawed: stop/kill of a paused container resume it."""
        if state.status is State.PAUSED:
            with contextlib.suppress(LaminaError):
                self.runtime.resume(container.id)
            self.update_state(container.id, status=State.RUNNING)

    def wait_exit(self, container_id: str, timeout: float | None) -> ContainerState | None:
        """Block until the container is not running; None on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.01
        while True:
            state = self.store.state(container_id)
            if not state.running:
                return state
            if not self.store.watched(container_id):
                self._reconcile_running(container_id, state)
                continue_state = self.store.state(container_id)
                if not continue_state.running:
                    return continue_state
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def wait(self, name_or_id: str) -> int:
        container, _ = self.get(name_or_id)
        state = self.wait_exit(container.id, None)
        assert state is not None
        return state.exit_code

    def restart(self, name_or_id: str, timeout: float | None = None, sig: str | None = None) -> Container:
        container = self.stop(name_or_id, timeout, sig)
        self.start(container.id)
        return container

    # ------------------------------------------------------------ removal
    def remove(self, name_or_id: str, *, force: bool = False, volumes: bool = False) -> Container:
        """docker rm: ``ContainerRunning`` unless stopped or *force* (which kills first)."""
        container, state = self.get(name_or_id)
        if state.running:
            if not force:
                raise ContainerRunning(container.name, f'cannot remove container "/{container.name}": '
                                       "container is running: stop the container before removing or "
                                       "force remove")
            with contextlib.suppress(InvalidStateTransition):
                self.kill(container.id, _SIGKILL)
            self.wait_exit(container.id, 10)
        with self.store.lock(container.id):
            self._remove_locked(container, volumes=volumes)
        return container

    def _remove_locked(self, container: Container, *, volumes: bool) -> None:
        with contextlib.suppress(LaminaError):
            if self._has_runtime_state(container.id):
                self.runtime.delete(container.id, force=True)
        self._leave_network(container.id, self.store.state(container.id))  # its monitor may not have yet
        driver = self.driver
        for layer in (container.layer_id, container.init_layer_id):
            if layer and driver.exists(layer):
                driver.remove(layer)
        if volumes and any(m.anonymous for m in container.mounts):
            shared = {m.name for c in self.store.list() if c.id != container.id for m in c.mounts}
            for mount in container.mounts:
                if mount.anonymous and mount.name not in shared:   # --volumes-from users keep it, as in docker
                    with contextlib.suppress(LaminaError, OSError):
                        self.volumes.remove(mount.name, force=True)
        self.store.delete(container.id, container.name)
        self.event(container, "destroy")

    def _has_runtime_state(self, container_id: str) -> bool:
        return (self.run_dir / "crun" / container_id).exists()

    # ------------------------------------------------------------ reconciliation
    def reconcile(self) -> None:
        """Heal what crashed CLIs and monitors left: see the module docstring. Cheap when all is well."""
        for staging in self.store.stale_staging():
            rmtree(staging)
        settled = self.store.settled()
        for cid in self.store.ids():
            if cid in settled:
                continue
            path = self.store.dir(cid)
            if self.store.incomplete(cid) or not (path / "config.json").exists():
                self._reconcile_incomplete(cid)
                continue
            with contextlib.suppress(ContainerNotFound, LaminaError):
                state = self.store.state(cid)
                if state.running and not self.store.watched(cid):
                    self._reconcile_running(cid, state)
                elif state.status is State.CREATED and _starter_died(state) and not self.store.watched(cid):
                    self.finalize(cid)  # the run that made it died before the start: the mount, --rm
                    self.update_state(cid, starter=None)
                    self._settle(cid)
                elif state.status is State.EXITED and state.extra.get("mounted") and not self.store.watched(cid):
                    self.finalize(cid)  # its CLI or monitor died between the exit and the cleanup

    def _reconcile_incomplete(self, cid: str) -> None:
        held = try_lock(self.store.dir(cid) / "lock")
        if held is None:
            return  # still being created
        try:
            log.info("removing incomplete container record id=%s", cid)
            self._discard_incomplete(cid, None)
        finally:
            held.release()

    def _reconcile_running(self, cid: str, state: ContainerState) -> None:
        if self._alive(cid, state):
            return
        last = int(state.extra.get("last_signal", 0))
        from lamina.container.monitor import now_rfc3339
        self.update_state(cid, status=State.EXITED, pid=0, exit_code=128 + last if last else UNKNOWN_EXIT,
                          finished_at=now_rfc3339())
        with contextlib.suppress(LaminaError):
            if self._has_runtime_state(cid):
                self.runtime.delete(cid, force=True)
        self.finalize(cid)

    def _alive(self, cid: str, state: ContainerState) -> bool:
        if state.pid:
            return process_alive(state.pid, int(state.extra.get("starttime", 0)))
        if not self._has_runtime_state(cid):
            return False
        from lamina.runtime.base import RuntimeStatus
        try:
            seen = self.runtime.state(cid)
        except (ContainerNotFound, RuntimeFailed):
            return False
        return seen.status is not RuntimeStatus.STOPPED

    # ------------------------------------------------------------ inside a running container
    def _running(self, name_or_id: str, action: str) -> tuple[Container, ContainerState]:
        container, state = self.get(name_or_id)
        if not state.running:
            raise InvalidStateTransition(container.name, state.status.value, action)
        return container, state

    def exec(self, name_or_id: str, args: Sequence[str], *, env: Sequence[str] = (), user: str | None = None,
             workdir: str | None = None, tty: bool = False, detach: bool = False, privileged: bool = False,
             stdio: tuple[int, int, int] | None = None) -> int:
        """Run *args* in the running container (crun exec); its exit status, or 0 when detached.
        *privileged*: every capability the host allows, as ``run --privileged`` gives."""
        container, _ = self._running(name_or_id, "exec in")
        process = self.exec_process(container, args, env=env, user=user, workdir=workdir, tty=tty)
        self.event(container, "exec_start: " + " ".join(args), execID=os.urandom(32).hex())
        if privileged:
            from lamina.container.ocispec import resolve_capabilities
            caps = list(resolve_capabilities(RunOptions(privileged=True), self.host))
            process["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
        if not detach:
            return self.runtime.exec(container.id, process, tty=tty, stdio=stdio)
        if os.fork() == 0:  # detached: a child in its own session runs crun exec and exits
            try:
                os.setsid()
                fd = os.open(os.devnull, os.O_RDWR)
                self.runtime.exec(container.id, process, stdio=(fd, fd, fd))
            finally:
                os._exit(0)
        return 0

    def exec_process(self, container: Container, args: Sequence[str], *, env: Sequence[str] = (),
                     user: str | None = None, workdir: str | None = None, tty: bool = False) -> dict[str, Any]:
        """The OCI process for *args* in *container*: its config's, with these overrides (exec, health)."""
        if not args:
            raise InvalidOption("exec: no command specified")
        config = self.store.runtime_config(container.id)
        process: dict[str, Any] = dict(config["process"])
        from lamina.container.ocispec import replace_or_append_env
        process["args"] = list(args)
        process["env"] = replace_or_append_env(list(process.get("env", [])), list(env))
        if tty and not any(e.startswith("TERM=") for e in process["env"]):
            process["env"].append("TERM=xterm")
        if workdir:
            process["cwd"] = workdir
        if user is not None:
            resolved = resolve_user(Path(config["root"]["path"]), user)
            process["user"] = {"uid": resolved.uid, "gid": resolved.gid,
                               **({"additionalGids": list(resolved.additional_gids)}
                                  if resolved.additional_gids else {})}
        return process

    def pids(self, name_or_id: str) -> builtins.list[int]:
        """The host pids of the container's processes (cgroup procs, else the init's descendants)."""
        container, state = self._running(name_or_id, "list processes of")
        cgroup = self._cgroups_path(container.id).strip("/")
        pid = state.pid or self._runtime_pid(container.id)
        if cgroup:
            for base in ("pids", "memory", "cpu", "systemd", "unified", ""):
                procs = Path("/sys/fs/cgroup", base, cgroup, "cgroup.procs")
                with contextlib.suppress(OSError, ValueError):
                    found = sorted(int(p) for p in procs.read_text().split())
                    if found:
                        return found
        return descendants(pid) if pid else []

    def _runtime_pid(self, cid: str) -> int:
        with contextlib.suppress(LaminaError):
            return self.runtime.state(cid).pid
        return 0

    def attach(self, name_or_id: str, *, stdin: bool = True, stdio: tuple[int, int, int] = (0, 1, 2),
               detach_keys: bytes = b"\x10\x11", sig_proxy: bool = True) -> int | None:
        """docker attach: the running container's output from now on, and stdin when it keeps one open.

        Returns its exit status once it exits, or None after *detach_keys* (tty containers only).
        With *sig_proxy* (not for a tty), SIGINT/SIGTERM/SIGHUP received here go to the container.
        """
        from lamina.container import attach as attaching
        container, _ = self._running(name_or_id, "attach to")
        conn = attaching.connect(self.store.dir(container.id), container.name)
        forward = stdin and container.interactive
        proxied = proxy_signals(self.runtime, container.id) if sig_proxy and not container.tty else None
        with proxied or contextlib.nullcontext():
            code = attaching.relay(conn, stdio[0] if forward else None, stdio[1], stdio[2],
                                   detach_keys=detach_keys if container.tty and forward else b"")
        if code is None:
            state = self.store.state(container.id)
            return None if state.running else state.exit_code
        return code

    def stats(self, names: Sequence[str] = (), *, interval: float = 0.5) -> builtins.list[ContainerStats]:
        """docker stats, one reading: CPU % over *interval*, memory, network and block I/O, pids.

        *names* empty: every running container. A named container that is not running reads as zeros.
        """
        from lamina._internal.cgroups import Usage, usage
        chosen = [self.get(n) for n in names] if names else [cs for cs in self.list() if cs[1].running]
        paths = [self._cgroups_path(c.id) if s.running else "" for c, s in chosen]
        first = [usage(p) if p else Usage() for p in paths]
        started = time.monotonic()
        time.sleep(interval)
        elapsed = time.monotonic() - started
        out = []
        for (container, state), path, before in zip(chosen, paths, first, strict=True):
            after = usage(path) if path else Usage()
            cpu = 100.0 * (after.cpu_ns - before.cpu_ns) / (elapsed * 1e9) if after.cpu_ns else 0.0
            pids = self.pids(container.id) if state.running else []
            rx, tx = _net_io(pids[0]) if pids else (0, 0)
            out.append(ContainerStats(container=container, usage=after, cpu_percent=max(cpu, 0.0),
                                      memory_total=_host_memory(), net_rx=rx, net_tx=tx))
        return out

    def _cgroups_path(self, container_id: str) -> str:
        """The cgroupsPath the bundle gave the runtime ("" when cgroups were not usable)."""
        config = self.store.runtime_config(container_id)
        return str((config.get("linux") or {}).get("cgroupsPath") or "")

    def top(self, name_or_id: str,
            ps_args: Sequence[str] = ()) -> tuple[builtins.list[str], builtins.list[builtins.list[str]]]:
        """docker top: ``ps -ef`` (or *ps_args*) filtered to the container's pids: (titles, rows)."""
        pids: set[int] = set(self.pids(name_or_id))
        argv = ["ps", *(ps_args or ["-ef"])]
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # ps would truncate
        import subprocess
        out = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
        if out.returncode != 0:
            raise InvalidOption(f"top: ps failed: {out.stderr.strip()}")
        lines = out.stdout.splitlines()
        titles = lines[0].split()
        if "PID" not in titles:
            raise InvalidOption('top: couldn\'t find PID field in ps output')
        index = titles.index("PID")
        rows = []
        for line in lines[1:]:
            fields = line.split(None, len(titles) - 1)
            if len(fields) > index and fields[index].isdigit() and int(fields[index]) in pids:
                rows.append(fields)
        return titles, rows

    # ------------------------------------------------------------ the rootfs
    @contextlib.contextmanager
    def mounted(self, container: Container) -> Any:
        """The container's merged rootfs, mounted for the duration (a counted reference)."""
        rootfs = self.driver.mount(container.layer_id)
        try:
            yield rootfs
        finally:
            self.driver.unmount(container.layer_id)

    def diff_parent(self, container: Container) -> str | None:
        return container.init_layer_id or container.parent_layer_id


def seed_volume(mountpoint: Path, rootfs: Path, destination: str) -> None:
    """docker's copy-up: an empty volume gets the image's content at *destination*."""
    from lamina._internal.fsops import resolve_in_root
    from lamina._internal.proc import die_with_parent
    source = resolve_in_root(rootfs, destination)
    if not source.is_dir() or any(mountpoint.iterdir()):
        return
    import subprocess
    res = subprocess.run(["cp", "-a", "--", f"{source}/.", str(mountpoint)], capture_output=True,
                         text=True, check=False, preexec_fn=die_with_parent)
    if res.returncode != 0:
        raise RuntimeFailed(f"seed volume {mountpoint} from {destination}: {res.stderr.strip()}")


def descendants(pid: int) -> list[int]:
    """*pid* and every process below it, by scanning /proc (ppid links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return sorted(out)


def _now() -> str:
    return timestamp_ns()


def _mappings(container: Container) -> list[PortMapping]:
    """The host ports a bridge container publishes: ``-p``, and with ``-P`` its image's and ``--expose``'s
    ports that ``-p`` did not name."""
    from lamina.network import ports
    exposed = []
    if container.options.get("publish_all"):
        more: dict[str, Any] = {p if "/" in p else f"{p}/tcp": {} for p in container.options.get("expose") or ()}
        exposed = ports.exposed({"ExposedPorts": {**(container.image_config.get("ExposedPorts") or {}), **more}})
    return ports.merge(ports.from_specs(container.options.get("publish") or ()), exposed)


def _run_options(data: Mapping[str, Any]) -> RunOptions:
    """The record's options back as ``RunOptions`` (mounts are in ``Container.mounts``)."""
    known = {k: v for k, v in data.items() if k in fields(RunOptions) and k != "mounts"}
    for key in ("ulimits",):
        if key in known:
            known[key] = {k: tuple(v) for k, v in known[key].items()}
    return RunOptions(**known)


def _options_json(opts: RunOptions) -> dict[str, Any]:
    """RunOptions as JSON for the record (mounts live in ``Container.mounts``)."""
    out: dict[str, Any] = {}
    for key in fields(opts):
        if key == "mounts":
            continue
        value = getattr(opts, key)
        out[key] = dict(value) if isinstance(value, Mapping) else list(value) \
            if isinstance(value, tuple | list) else value
    return out


@record
class ContainerStats(Record):
    """One ``stats`` row's numbers."""

    container: Container
    usage: Usage
    cpu_percent: float
    memory_total: int      # the limit when there is none: the host's memory, as docker shows
    net_rx: int
    net_tx: int


def _net_io(pid: int) -> tuple[int, int]:
    """Bytes received and sent by the container's network namespace, loopback excluded."""
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.readlines()[2:]
    except OSError:
        return 0, 0
    for line in lines:
        name, _, numbers = line.partition(":")
        fields = numbers.split()
        if name.strip() != "lo" and len(fields) >= 9:
            rx, tx = rx + int(fields[0]), tx + int(fields[8])
    return rx, tx


def _host_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _this_process() -> str:
    from lamina.container.monitor import proc_starttime
    return f"{os.getpid()}:{proc_starttime(os.getpid())}"


def _unsettled(state: ContainerState) -> bool:
    """Whether reconciliation must keep looking at a container in *state*: running (or paused,
    restarting), mounted, or a ``run`` that has not started it yet."""
    return state.running or bool(state.extra.get("mounted")) or \
        (state.status is State.CREATED and bool(state.extra.get("starter")))


def _starter_died(state: ContainerState) -> bool:
    """A ``run`` wrote its pid and start time at create; True once that process is gone."""
    starter = str(state.extra.get("starter") or "")
    pid, _, starttime = starter.partition(":")
    return bool(pid.isdigit()) and not process_alive(int(pid), int(starttime or 0))
