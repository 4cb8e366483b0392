"""ContainerService: the container use cases the CLI calls, wired to the image store and driver.

Must not print or exit. Resolves image names (``ImageNotFound`` → exit 125), turns the
CLI's options into a ``CreateRequest`` for ``lamina.container.manager``, and owns the
use cases that span images and containers: ``commit`` (the rw layer's diff becomes a new
image layer) and docker's ``inspect`` shape. Opening the service reconciles records
with reality (crashed creations, dead containers nobody watched).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence

from lamina._internal.logs import get_logger
from lamina._internal.records import Record, field, record
from lamina.container.manager import ContainerManager, CreateRequest
from lamina.container.model import Container, ContainerState, State
from lamina.container.monitor import Attach, parse_restart
from lamina.container.ocispec import RunOptions
from lamina.container.store import ContainerStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from lamina.container.copy import MountPoint
    from lamina.container.logs import LogEntry
    from lamina.container.manager import ContainerStats
    from lamina.container.volumes import VolumeRequest
    from lamina.engine.engine import Engine
    from lamina.engine.system import PruneFilter
    from lamina.image.store import Image
    from lamina.layer.changes import Change
    from lamina.network.bridge import Attachment
    from lamina.network.networks import Network, NetworkStore
    from lamina.network.ports import PortMapping
    from lamina.runtime.protocol import Runtime

log = get_logger(__name__)


@record
class ContainerSpec(Record):
    """What ``create``/``run`` were asked for, before the image is resolved."""

    image: str
    options: RunOptions
    volumes: Sequence[VolumeRequest] = ()
    name: str | None = None
    auto_remove: bool = False
    interactive: bool = False
    stop_signal: str | None = None
    stop_timeout: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)   # --label: beside the image's labels
    volumes_from: Sequence[str] = ()          # --volumes-from NAME[:ro|rw]


class ContainerService:
    """Container use cases over one open Engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        config = engine.config
        self.manager = ContainerManager(
            store=ContainerStore(engine.root / "containers"), volumes=lambda: engine.volumes,
            driver=lambda: engine.driver, runtime=self._make_runtime, root=engine.root,
            run_dir=config.run_dir, driver_name=engine.driver_name, runtime_binary=config.runtime)
        self.manager.reconcile()

    def _make_runtime(self) -> Runtime:
        from lamina.runtime.crun import CrunRuntime
        return CrunRuntime(self.engine.config.runtime, state_root=self.engine.config.run_dir / "crun")

    def runtime_version(self) -> str:
        """``crun 1.8.1``: the OCI runtime containers use; RuntimeNotFound when there is none."""
        return self._make_runtime().version()

    @property
    def store(self) -> ContainerStore:
        return self.manager.store

    # ------------------------------------------------------------ lifecycle
    def _request(self, spec: ContainerSpec) -> CreateRequest:
        from lamina._internal.records import replace
        if spec.options.network_name:   # docker checks the network before the image
            net = self.network_store.get(spec.options.network_name)
            spec = replace(spec, options=replace(spec.options, network_name=net.name))
            if spec.options.ip is not None:
                net.check_address(spec.options.ip)
        if spec.volumes_from:
            spec = replace(spec, volumes=[*spec.volumes, *self._volumes_from(spec)])
        if spec.options.join:   # by id: a name can be reused later
            join = {kind: self.get(target)[0].id for kind, target in spec.options.join.items()}
            spec = replace(spec, options=replace(spec.options, join=join))
        image = self.engine.images.resolve(spec.image)
        store = self.engine.image_store
        config = store.config(image)
        layers = store.layer_stack(image)
        return CreateRequest(image_id=str(image.id), image_name=spec.image,
                             image_config=config.get("config") or {},
                             parent_layer_id=layers[-1].layer_id if layers else None,
                             options=spec.options, volumes=spec.volumes, name=spec.name,
                             auto_remove=spec.auto_remove, interactive=spec.interactive,
                             stop_signal=spec.stop_signal, stop_timeout=spec.stop_timeout,
                             labels=dict(spec.labels))

    def create(self, spec: ContainerSpec) -> Container:
        """``ImageNotFound``, ``NameInUse``, ``InvalidOption``; nothing is left behind on error."""
        return self.manager.create(self._request(spec))

    def run(self, spec: ContainerSpec, *, attach: Attach | None) -> tuple[Container, int]:
        """create + start: attached returns the exit status, detached 0 once the container runs."""
        return self.manager.run(self._request(spec), attach=attach)

    def start(self, name: str, *, attach: Attach | None = None) -> int:
        return self.manager.start(name, attach=attach)

    def stop(self, name: str, timeout: float | None = None, sig: str | None = None) -> Container:
        return self.manager.stop(name, timeout, sig)

    def kill(self, name: str, signal: str = "SIGKILL") -> Container:
        return self.manager.kill(name, signal)

    def update(self, name: str, **changes: Any) -> Container:
        """docker update: limits and restart policy of a container, running or not."""
        return self.manager.update(name, **changes)

    def rename(self, name: str, new_name: str) -> Container:
        return self.manager.rename(name, new_name)

    def pause(self, name: str) -> Container:
        return self.manager.pause(name)

    def unpause(self, name: str) -> Container:
        return self.manager.unpause(name)

    def restart(self, name: str, timeout: float | None = None, sig: str | None = None) -> Container:
        return self.manager.restart(name, timeout, sig)

    def wait(self, name: str) -> int:
        return self.manager.wait(name)

    def remove(self, name: str, *, force: bool = False, volumes: bool = False) -> Container:
        return self.manager.remove(name, force=force, volumes=volumes)

    def attach(self, name: str, **kwargs: Any) -> int | None:
        """See ``ContainerManager.attach``: the exit status, or None when detached."""
        return self.manager.attach(name, **kwargs)

    def stats(self, names: Sequence[str] = (), **kwargs: Any) -> builtins.list[ContainerStats]:
        return self.manager.stats(names, **kwargs)

    def exec(self, name: str, args: Sequence[str], **kwargs: Any) -> int:
        return self.manager.exec(name, args, **kwargs)

    def top(self, name: str,
            ps_args: Sequence[str] = ()) -> tuple[builtins.list[str], builtins.list[builtins.list[str]]]:
        return self.manager.top(name, ps_args)

    # ------------------------------------------------------------ reading
    def get(self, name: str) -> tuple[Container, ContainerState]:
        return self.manager.get(name)

    def list(self) -> list[tuple[Container, ContainerState]]:
        items = self.manager.list()
        return sorted(items, key=lambda cs: cs[0].created, reverse=True)

    def size(self, container: Container) -> int:
        """Bytes in the rw layer (docker's SizeRw)."""
        return self.engine.driver.diff_size(container.layer_id, self.manager.diff_parent(container))

    def image_size(self, container: Container) -> int:
        from lamina.digest import Digest
        from lamina.errors import ImageNotFound
        try:
            return self.engine.image_store.get(Digest.parse(container.image_id)).size
        except ImageNotFound:
            return 0

    def logs(self, name: str, *, tail: int | None = None, follow: bool = False) -> Iterator[LogEntry]:
        from lamina.container.logs import follow_logs, read_logs
        container, _ = self.get(name)
        if container.options.get("log_driver") == "none":
            from lamina.errors import NotSupported
            raise NotSupported("configured logging driver does not support reading")
        path = self.store.log_path(container.id)
        if not follow:
            return iter(read_logs(path, tail=tail))

        def running() -> bool:
            return self.store.state(container.id).running and container.id in self.store.ids()
        return follow_logs(path, tail=tail, running=running)

    def _volumes_from(self, spec: ContainerSpec) -> builtins.list[VolumeRequest]:
        """``--volumes-from NAME[:ro|rw]``: that container's volumes and binds at the same places
        (``ro`` makes them read-only; not its tmpfs mounts), unless this one mounts something there."""
        from lamina.container.volumes import VolumeRequest
        from lamina.errors import InvalidOption
        taken = {v.destination for v in spec.volumes}
        out = []
        for item in spec.volumes_from:
            name, _, mode = item.partition(":")
            if mode not in ("", "ro", "rw"):
                raise InvalidOption(f"invalid mode for volumes-from: {mode}")
            other, _ = self.get(name)
            for m in other.mounts:
                if m.type == "tmpfs" or m.destination in taken:
                    continue
                taken.add(m.destination)
                read_only = mode == "ro" or (m.read_only and mode != "rw")
                out.append(VolumeRequest(kind="bind", source=m.source, destination=m.destination, read_only=read_only)
                           if m.type == "bind" else
                           VolumeRequest(kind="volume", source=m.name, destination=m.destination,
                                         read_only=read_only, nocopy=True, shared=True))
        return out

    def user_of_image(self, image: Image) -> str | None:
        for container in self.store.list():
            if container.image_id == str(image.id):
                return container.name
        return None

    def volume_users(self) -> dict[str, builtins.list[str]]:
        """volume name → names of the containers that mount it."""
        users: dict[str, list[str]] = {}
        for container in self.store.list():
            for mount in container.mounts:
                if mount.type == "volume":
                    users.setdefault(mount.name, []).append(container.name)
        return users

    # ------------------------------------------------------------ copy-on-write made visible
    def diff(self, name: str) -> builtins.list[Change]:
        from lamina.layer.changes import sort_changes
        container, _ = self.get(name)
        changes = self.engine.driver.changes(container.layer_id, self.manager.diff_parent(container))
        return sort_changes(list(changes))

    def export(self, name: str, out: BinaryIO) -> None:
        from lamina.layer.tarwriter import write_tree
        container, _ = self.get(name)
        with self.manager.mounted(container) as rootfs:
            write_tree(rootfs, out)

    def copy_from(self, name: str, path: str, dest: str | BinaryIO) -> None:
        from lamina.container.copy import copy_out
        container, _ = self.get(name)
        with self.manager.mounted(container) as rootfs:
            copy_out(rootfs, path, dest, _mount_points(container))

    def copy_to(self, name: str, source: str | BinaryIO, path: str) -> None:
        from lamina.container.copy import copy_in
        container, _ = self.get(name)
        with self.manager.mounted(container) as rootfs:
            copy_in(rootfs, source, path, _mount_points(container))

    def commit(self, name: str, reference: str | None = None, *, changes: Sequence[str] = (),
               message: str | None = None, author: str | None = None, pause: bool = True) -> Image:
        """A new image: the container's image plus one layer holding exactly the rw layer's changes.

        With *pause* (docker's default) a running container is frozen while its layer is read, so
        the layer is one consistent snapshot.
        """
        import contextlib
        with self.manager.paused(name) if pause else contextlib.nullcontext():
            return self._commit(name, reference, changes=changes, message=message, author=author)

    def _commit(self, name: str, reference: str | None, *, changes: Sequence[str],
                message: str | None, author: str | None) -> Image:
        from lamina.digest import Digest
        from lamina.image import mutate
        from lamina.reference import Reference
        from lamina.spec.canonical import canonical_json
        container, _ = self.get(name)
        tags = [str(Reference.parse(reference))] if reference else []
        store = self.engine.image_store
        image = store.get(Digest.parse(container.image_id))
        layers = store.layer_stack(image)
        diff_parent = self.manager.diff_parent(container)
        layer = self.engine.images.store_written_layer(
            lambda out: self.engine.driver.diff(container.layer_id, diff_parent, out,
                                                epoch=self.engine.source_date_epoch),
            layers[-1] if layers else None)
        config = store.config(image)
        config["config"] = _committed_config(container, config.get("config") or {})
        created = mutate.timestamp(self.engine.source_date_epoch)
        config = mutate.append_layer(config, layer.diff_id, created=created, created_by=container.command,
                                     comment=message, author=author)
        config = mutate.apply_changes(config, changes)
        return store.add(canonical_json(config), [*layers, layer], tags=tags)

    # ------------------------------------------------------------ network
    def ports(self, container: Container, state: ContainerState) -> builtins.list[PortMapping]:
        """The host ports a running container publishes (``ps``, ``port``); none when it is not running."""
        attached = _attachment(state)
        return list(attached.ports) if attached else []

    # ------------------------------------------------------------ networks
    @property
    def network_store(self) -> NetworkStore:
        return self.manager.networks

    def networks(self) -> builtins.list[dict[str, Any]]:
        """docker's ``network inspect`` shape for bridge, host, none and the user networks, each with
        the running containers on it."""
        from lamina.network.networks import default_network
        attached: dict[str, dict[str, Any]] = {}
        for container, state in self.list():
            for a in _all_attachments(state):
                attached.setdefault(a.network.name, {})[container.id] = {
                    "Name": container.name, "MacAddress": a.mac, "IPv4Address": f"{a.address}/{a.prefix}",
                    "IPv6Address": ""}
        bridges = [default_network(), *self.network_store.list()]
        none = {"Driver": "default", "Config": []}
        return [*(_bridge_json(n, attached.get(n.name, {})) for n in bridges[:1]),
                _network("host", "host", none, {}, {}), _network("none", "null", none, {}, {}),
                *(_bridge_json(n, attached.get(n.name, {})) for n in bridges[1:])]

    def network_json(self, name: str) -> dict[str, Any]:
        """``network inspect`` of one network, by name, id or unique id prefix; NotFound otherwise."""
        from lamina.errors import NotFound
        networks = self.networks()
        found = [n for n in networks if name in (n["Name"], n["Id"])] or \
            [n for n in networks if n["Id"].startswith(name)]
        if len(found) != 1:
            raise NotFound(f"network {name} not found")
        return found[0]

    def create_network(self, name: str, *, subnet: str | None = None, gateway: str | None = None,
                       internal: bool = False, labels: Mapping[str, str] | None = None) -> Network:
        """``network create``: a bridge network of its own (see ``lamina.network.networks``)."""
        net = self.network_store.create(name, subnet=subnet, gateway=gateway, internal=internal, labels=labels)
        self._network_event("create", net, type="bridge")
        return net

    def _network_event(self, action: str, net: Network, **attributes: str) -> None:
        from lamina._internal.events import emit
        emit(self.engine.root, "network", action, net.id, {"name": net.name, **attributes})

    def remove_network(self, name: str) -> Network:
        """``network rm``: refused while a running container is on it; its host side goes too."""
        from lamina.errors import Conflict, InvalidArgument
        from lamina.network.bridge import STATE_DIR, remove_host_side
        from lamina.network.networks import PREDEFINED
        if name in PREDEFINED:
            raise InvalidArgument(f"{name} is a pre-defined network and cannot be removed")
        net = self.network_store.get(name)
        from lamina.container.netconnect import names
        users = [c.name for c, s in self.list() if s.running and net.name in names(c)]
        if users:
            raise Conflict(f"error while removing network: network {net.name} id {net.id} has active endpoints "
                           f"({', '.join(users)})", network=net.name)
        self.network_store.remove(net)
        remove_host_side(STATE_DIR, net)
        self._network_event("destroy", net, type="bridge")
        return net

    def connect_network(self, network: str, name: str, *, aliases: Sequence[str] = ()) -> Container:
        """``network connect``: one more network for a bridge container (now, if it runs)."""
        from lamina.container.netconnect import connect_network
        container = connect_network(self.manager, name, network, aliases=aliases)
        self._network_event("connect", self.network_store.find(network), container=container.id)
        return container

    def disconnect_network(self, network: str, name: str) -> Container:
        """``network disconnect`` of a network ``connect`` added."""
        from lamina.container.netconnect import disconnect_network
        container = disconnect_network(self.manager, name, network)
        self._network_event("disconnect", self.network_store.find(network), container=container.id)
        return container

    def prune_networks(self, filters: PruneFilter | None = None) -> builtins.list[str]:
        """``network prune``: the user networks no container (running or not) names, that *filters*
        match; their names."""
        from lamina.container.netconnect import names
        used = {n for c, _ in self.list() if c.options.get("network") == "bridge" for n in names(c)}
        return [self.remove_network(n.name).name for n in self.network_store.list()
                if n.name not in used and (filters is None or filters.matches(n.created, n.labels))]

    # ------------------------------------------------------------ inspect
    def inspect(self, name: str, *, size: bool = False) -> dict[str, Any]:
        """docker's ``container inspect`` shape."""
        container, state = self.get(name)
        data = {
            "Id": container.id, "Created": container.created, "Path": container.path,
            "Args": list(container.args), "State": _state_json(state), "Image": container.image_id,
            "ResolvConfPath": str(self.store.bundle(container.id) / "etc" / "resolv.conf"),
            "HostnamePath": str(self.store.bundle(container.id) / "etc" / "hostname"),
            "HostsPath": str(self.store.bundle(container.id) / "etc" / "hosts"),
            "LogPath": str(self.store.log_path(container.id)), "Name": "/" + container.name,
            "RestartCount": state.restart_count, "Driver": self.engine.driver_name(),
            "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
            "HostConfig": _host_config(container), "GraphDriver": self._graph_driver(container),
            "Mounts": [m.to_inspect() for m in container.mounts], "Config": _config_json(container),
            "NetworkSettings": _network_settings(container, state),
        }
        if size:
            rw = self.size(container)
            data["SizeRw"] = rw
            data["SizeRootFs"] = rw + self.image_size(container)
        return data

    def _graph_driver(self, container: Container) -> dict[str, Any]:
        driver = self.engine.driver
        data = driver.metadata(container.layer_id) if driver.exists(container.layer_id) else None
        return {"Name": driver.name, "Data": data}


def _mount_points(container: Container) -> builtins.list[MountPoint]:
    """The container's volumes, binds and tmpfs mounts as ``cp`` resolves paths through them."""
    from pathlib import Path

    from lamina.container.copy import MountPoint
    return [MountPoint(m.destination, Path(m.source) if m.type != "tmpfs" and m.source else None, m.read_only)
            for m in container.mounts]


def _committed_config(container: Container, image_config: dict[str, Any]) -> dict[str, Any]:
    """docker commit keeps the container's command and environment in the new image."""
    out = dict(image_config)
    opts = container.options
    if opts.get("entrypoint") is not None:
        out["Entrypoint"] = list(opts["entrypoint"]) or None
    if opts.get("args"):
        out["Cmd"] = list(opts["args"])
    env = [e for e in container.env if not e.startswith("HOSTNAME=")]
    if env:
        out["Env"] = env
    return {k: v for k, v in out.items() if v is not None}


def _network(name: str, driver: str, ipam: dict[str, Any], containers: dict[str, Any],
             options: dict[str, str], net_id: str | None = None) -> dict[str, Any]:
    from lamina.digest import hexdigest
    return {"Name": name, "Id": net_id or hexdigest("sha256", f"lamina network {name}".encode()), "Scope": "local",
            "Driver": driver, "EnableIPv6": False, "IPAM": ipam, "Internal": False, "Attachable": False,
            "Containers": containers, "Options": options, "Labels": {}}


def _bridge_json(net: Network, containers: dict[str, Any]) -> dict[str, Any]:
    ipam = {"Driver": "default", "Config": [{"Subnet": net.subnet, "Gateway": net.gateway}]}
    out = _network(net.name, "bridge", ipam, containers, {"com.docker.network.bridge.name": net.bridge},
                   net.id if net.user_defined else None)
    out.update(Internal=net.internal, Labels=dict(net.labels))
    if net.created:
        out["Created"] = net.created
    return out


def _attachment(state: ContainerState) -> Attachment | None:
    """A running bridge container's place on the network (address, MAC, host ports); None otherwise."""
    data = state.extra.get("network")
    if not data or not state.running:
        return None
    from lamina.network.bridge import Attachment
    return Attachment.from_json(data)


def _all_attachments(state: ContainerState) -> builtins.list[Attachment]:
    """A running bridge container's attachments: its first network's, then the connected ones'."""
    from lamina.container.netconnect import attachments
    first = _attachment(state)
    return ([first] if first else []) + attachments(state)


def _network_settings(container: Container, state: ContainerState) -> dict[str, Any]:
    """docker's ``NetworkSettings``: address, gateway, MAC and ports while a bridge container runs."""
    from lamina.network.ports import docker_ports
    attached = _attachment(state)
    out: dict[str, Any] = {"Ports": docker_ports(attached.ports) if attached else {}, "IPAddress": "",
                           "IPPrefixLen": 0, "Gateway": "", "MacAddress": "", "Networks": {}}
    if attached is not None:
        out.update({k: v for k, v in _endpoint(container, attached).items() if k not in ("NetworkID", "Aliases")})
        out["Networks"] = {a.network.name: _endpoint(container, a) for a in _all_attachments(state)}
    return out


def _endpoint(container: Container, attached: Attachment) -> dict[str, Any]:
    net = attached.network
    return {"NetworkID": net.id, "IPAddress": attached.address, "IPPrefixLen": attached.prefix,
            "Gateway": attached.gateway, "MacAddress": attached.mac,
            "Aliases": [container.name, *attached.aliases] if net.user_defined else None}


def _state_json(state: ContainerState) -> dict[str, Any]:
    zero = "0001-01-01T00:00:00Z"
    out: dict[str, Any] = {"Status": state.status.value, "Running": state.status in (State.RUNNING, State.PAUSED),
           "Paused": state.status is State.PAUSED, "Restarting": state.status is State.RESTARTING,
           "OOMKilled": state.oom_killed, "Dead": state.status is State.DEAD, "Pid": state.pid,
           "ExitCode": state.exit_code, "Error": state.error, "StartedAt": state.started_at or zero,
           "FinishedAt": state.finished_at or zero}
    if state.health is not None:
        out["Health"] = state.health
    return out


def _join_mode(opts: dict[str, Any], kind: str, default: str) -> str:
    target = (opts.get("join") or {}).get(kind)
    return f"container:{target}" if target else opts.get(kind) or default


def _healthcheck(image_config: dict[str, Any], opts: dict[str, Any]) -> dict[str, Any] | None:
    """``Config.Healthcheck``: the image's with the ``--health-*`` flags over it; ``--no-healthcheck`` alone."""
    override = opts.get("health") or {}
    if override.get("Test") == ["NONE"]:
        return {"Test": ["NONE"]}
    return {**(image_config.get("Healthcheck") or {}), **override} or None


def _host_config(container: Container) -> dict[str, Any]:
    opts = container.options
    binds = [f"{m.source}:{m.destination}{':ro' if m.read_only else ''}"
             for m in container.mounts if m.type == "bind"]
    cpus = opts.get("cpus")
    from lamina.network.ports import docker_ports, from_specs
    mode = {"bridge": "bridge", "host": "host"}.get(str(opts.get("network")), "none")
    join = opts.get("join") or {}
    if "network" in join:
        mode = f"container:{join['network']}"
    return {"Binds": binds or None, "NetworkMode": opts.get("network_name") or mode,
            "PortBindings": docker_ports(from_specs(opts.get("publish") or ())),
            "PublishAllPorts": bool(opts.get("publish_all")), "Init": bool(opts.get("init")) or None,
            "AutoRemove": container.auto_remove, "Privileged": bool(opts.get("privileged")),
            "ReadonlyRootfs": bool(opts.get("read_only")), "Memory": opts.get("memory") or 0,
            "NanoCpus": int(cpus * 1e9) if cpus else 0, "PidsLimit": opts.get("pids_limit"),
            "CapAdd": opts.get("cap_add") or None, "CapDrop": opts.get("cap_drop") or None,
            "ShmSize": opts.get("shm_size", 0), "RestartPolicy": _restart_policy(str(opts.get("restart") or "no")),
            "LogConfig": {"Type": opts.get("log_driver") or "json-file", "Config": dict(opts.get("log_opts") or {})},
            **_more_host_config(opts)}


def _more_host_config(opts: dict[str, Any]) -> dict[str, Any]:
    from lamina.container.ocispec import device_mappings
    return {"Devices": [{"PathOnHost": h, "PathInContainer": c, "CgroupPermissions": p}
                        for h, c, p in device_mappings(opts.get("devices") or ())],
            "PidMode": _join_mode(opts, "pid", ""), "IpcMode": _join_mode(opts, "ipc", "private"),
            "UTSMode": opts.get("uts") or "",
            "Sysctls": opts.get("sysctls") or None, "CpuShares": opts.get("cpu_shares") or 0,
            "CpusetCpus": opts.get("cpuset_cpus") or "", "MemorySwap": opts.get("memory_swap") or 0,
            "MemoryReservation": opts.get("memory_reservation") or 0, "GroupAdd": opts.get("group_add") or None}


def _restart_policy(text: str) -> dict[str, Any]:
    name, count = parse_restart(text)
    return {"Name": name, "MaximumRetryCount": count}


def _config_json(container: Container) -> dict[str, Any]:
    opts = container.options
    image_config = container.image_config
    cmd = list(opts.get("args") or []) or image_config.get("Cmd")
    entrypoint = opts.get("entrypoint")
    return {"Hostname": container.hostname, "Domainname": opts.get("domainname") or "", "User": opts.get("user") or
            image_config.get("User", ""), "AttachStdin": container.interactive,
            "Tty": container.tty, "OpenStdin": container.interactive, "StdinOnce": container.interactive,
            "Env": list(container.env), "Cmd": cmd,
            "Image": container.image_name, "Volumes": image_config.get("Volumes"),
            "WorkingDir": opts.get("workdir") or image_config.get("WorkingDir", ""),
            "Entrypoint": (list(entrypoint) or None) if entrypoint is not None else image_config.get("Entrypoint"),
            "Labels": container.all_labels, "StopSignal": container.stop_signal,
            "Healthcheck": _healthcheck(image_config, opts),
            "StopTimeout": container.stop_timeout}
