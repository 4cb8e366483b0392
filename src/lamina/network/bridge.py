"""Bridge networks: a netns per running container on a host bridge (``lamina0`` for docker's default
``bridge``, 10.89.0.0/16; ``lm-…`` for a user network, ``lamina.network.networks``), an address from the
network's subnet, outbound NAT, published ports, and on user networks a DNS server for container names.

docker's ``bridge`` network, built from the CNI reference plugins (``lamina.network.cni``):
``bridge`` (veth pair, the bridge, host-local addresses) and ``portmap`` (DNAT of published
ports, reachable on the host's addresses and on 127.0.0.1). Outbound NAT and forwarding are
host-wide iptables rules added once per boot, like dockerd's. A container's network lives while
it runs: ``attach`` before the runtime starts it, ``detach`` after it exited. Addresses and port
claims are host-wide (one bridge for every lamina root), so they live in ``state_dir``
(``/run/lamina/network``: gone at reboot, like the netns).

Port claims: iptables DNAT binds no socket, so nothing stops two containers publishing the same
host port. ``attach`` claims each host port (a file under ``state_dir/ports``, under a lock) and
checks that no host process listens on it; a claim whose holder's netns is gone is stale.

Must not know about images or container records: it takes an id, a netns path and mappings.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lamina._internal.locking import FileLock
from lamina._internal.logs import get_logger
from lamina.errors import LaminaError, NetworkFailed, PortAllocated
from lamina.network import cni
from lamina.network.networks import DNS_DOMAIN, Network, default_network
from lamina.network.ports import PortMapping

log = get_logger(__name__)

STATE_DIR = Path("/run/lamina/network")
BRIDGE = "lamina0"
SUBNET = "10.89.0.0/16"
GATEWAY = "10.89.0.1"


def conflist(state_dir: Path, *, ports: bool, net: Network | None = None) -> dict[str, Any]:
    """The CNI configuration list of *net* (the default ``bridge``): ``portmap`` only when ports are
    published, ``dnsname`` on a user network when the plugin is installed.

    NAT and forwarding are host rules for the whole subnet (``ensure_host_rules``), as docker does,
    rather than the plugins' per-container chains: those cost ~80 ms of iptables per run.
    """
    net = net or default_network()
    plugins: list[dict[str, Any]] = [
        {"type": "bridge", "bridge": net.bridge, "isGateway": True, "ipMasq": False, "hairpinMode": True,
         "ipam": {"type": "host-local", "dataDir": str(state_dir / "ipam"), "routes": [{"dst": "0.0.0.0/0"}],
                  "ranges": [[{"subnet": net.subnet, "gateway": net.gateway}]]}}]
    if ports:
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True}, "snat": True})
    if dns_served(net):
        plugins.append({"type": "dnsname", "domainName": DNS_DOMAIN, "capabilities": {"aliases": True}})
    return {"cniVersion": cni.CNI_VERSION, "name": cni_name(net), "plugins": plugins}


def cni_name(net: Network) -> str:
    """The CNI network name: host-local keeps its addresses, dnsname its dnsmasq, under it."""
    return "lamina" if not net.user_defined else net.bridge


def dns_served(net: Network) -> bool:
    """Whether containers on *net* get its DNS server (a user network, the dnsname plugin installed)."""
    return net.dns and net.user_defined and any(os.access(os.path.join(d, "dnsname"), os.X_OK)
                                                for d in cni.PLUGIN_DIRS)


def host_rules(net: Network) -> list[tuple[str, ...]]:
    """*net*'s iptables rules, top first: traffic inside it, none to another lamina network (docker's
    isolation), replies and outbound traffic with NAT unless it is internal."""
    br = net.bridge
    others = ("-o", "lm+") if not net.user_defined else ("-o", BRIDGE)
    rules: list[tuple[str, ...]] = [("filter", "FORWARD", "-i", br, "-o", br, "-j", "ACCEPT"),
                                    ("filter", "FORWARD", "-i", br, *others, "-j", "DROP")]
    if net.user_defined:
        rules.append(("filter", "FORWARD", "-i", br, "-o", "lm+", "-j", "DROP"))
    if net.internal:
        return [*rules, ("filter", "FORWARD", "-i", br, "-j", "DROP"), ("filter", "FORWARD", "-o", br, "-j", "DROP")]
    replies = ("-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED")
    return [*rules, ("filter", "FORWARD", "-o", br, *replies, "-j", "ACCEPT"),
            ("filter", "FORWARD", "-i", br, "-j", "ACCEPT"),
            ("nat", "POSTROUTING", "-s", net.subnet, "!", "-o", br, "-j", "MASQUERADE")]


def ensure_host_rules(state_dir: Path, net: Network | None = None) -> None:
    """*net*'s host rules (``host_rules``) and IP forwarding, once per boot and network (a marker file)."""
    import subprocess
    net = net or default_network()
    marker = state_dir / f"host-rules-{net.bridge}"
    if marker.exists():
        return
    for table, chain, *rule in reversed(host_rules(net)):   # each goes to the top: the first ends first
        check = subprocess.run(["iptables", "-w", "-t", table, "-C", chain, *rule], capture_output=True, check=False)
        if check.returncode == 0:
            continue
        done = subprocess.run(["iptables", "-w", "-t", table, "-I", chain, "1", *rule], capture_output=True,
                              check=False)
        if done.returncode != 0:
            raise NetworkFailed(f"network {net.name}: iptables -t {table} -I {chain}: "
                                f"{done.stderr.decode(errors='replace').strip()}")
    with open("/proc/sys/net/ipv4/ip_forward", "w") as forward:
        forward.write("1")
    marker.write_text("")


def remove_host_side(state_dir: Path, net: Network) -> None:
    """After ``network rm``: its iptables rules, its bridge, its addresses and its marker."""
    import subprocess
    for table, chain, *rule in host_rules(net):
        subprocess.run(["iptables", "-w", "-t", table, "-D", chain, *rule], capture_output=True, check=False)
    dns_rule = ("-i", net.bridge, "-p", "udp", "-m", "udp", "--dport", "53", "-j", "ACCEPT")   # dnsname's
    for _ in range(16):   # it adds one each time its dnsmasq starts, and never removes them
        if subprocess.run(["iptables", "-w", "-D", "INPUT", *dns_rule], capture_output=True, check=False).returncode:
            break
    subprocess.run(["ip", "link", "del", net.bridge], capture_output=True, check=False)
    from lamina._internal.fsops import rmtree
    rmtree(state_dir / "ipam" / cni_name(net))
    (state_dir / f"host-rules-{net.bridge}").unlink(missing_ok=True)


class Attachment:
    """A running container's place on the network: address, gateway, MAC and the host ports it got."""

    __slots__ = ("address", "aliases", "gateway", "ifname", "mac", "name", "network", "ports", "prefix", "result")

    def __init__(self, result: dict[str, Any], ports: Sequence[PortMapping], network: Network | None = None,
                 name: str | None = None, aliases: Sequence[str] = (), ifname: str = "eth0") -> None:
        self.result, self.ports, self.network = result, tuple(ports), network or default_network()
        self.name, self.aliases = name, tuple(aliases)   # the container's, as the network's DNS knows it
        self.ifname = ifname
        ips = result.get("ips") or [{}]
        address, _, prefix = str(ips[0].get("address", "")).partition("/")
        self.address, self.prefix = address, int(prefix or 0)
        self.gateway = str(ips[0].get("gateway", ""))
        self.mac = next((str(i.get("mac", "")) for i in result.get("interfaces") or [] if i.get("sandbox")), "")

    @property
    def dns(self) -> bool:
        """Whether the network's DNS server answered this container's ADD (user networks)."""
        return "dns" in self.result and self.network.user_defined

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result, "ports": [p.spec for p in self.ports], "network": self.network.to_json(),
                "name": self.name, "aliases": list(self.aliases), "ifname": self.ifname}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attachment:
        from lamina.network.ports import from_specs
        net = Network.from_json(data["network"]) if data.get("network") else None
        return cls(dict(data.get("result") or {}), from_specs(data.get("ports") or ()), net, data.get("name"),
                   data.get("aliases") or (), str(data.get("ifname") or "eth0"))


class BridgeNetwork:
    """Attach containers to the bridge and detach them (see the module docstring)."""

    def __init__(self, state_dir: Path = STATE_DIR) -> None:
        self.state_dir = state_dir

    # ------------------------------------------------------------ attach / detach
    def attach(self, container_id: str, netns: Path, mappings: Sequence[PortMapping], *,
               net: Network | None = None, name: str | None = None, aliases: Sequence[str] = (),
               ip: str | None = None, mac: str | None = None) -> Attachment:
        """Make *netns*, claim host ports (0 → a free one), run CNI ADD on *net* (default ``bridge``),
        registering *name* and *aliases* with the network's DNS, with *ip* and *mac* when asked for.
        Undone on any error."""
        who = cni.Invocation(container_id, str(netns), name=name, ip=ip, mac=mac)
        net = net or default_network()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ensure_host_rules(self.state_dir, net)
        create_netns(netns)
        try:
            with self._ports_lock():
                ports = [self._claim(container_id, netns, m) for m in mappings]
            result = cni.add(conflist(self.state_dir, ports=bool(ports), net=net), who,
                             _runtime_config(ports, net, aliases))
        except BaseException:
            self._release(container_id)
            remove_netns(netns)
            raise
        log.debug("network attached id=%s network=%s result=%s", container_id, net.name, result)
        return Attachment(result, ports, net, name, aliases)

    def add_interface(self, container_id: str, netns: Path, net: Network, *, ifname: str, name: str | None,
                      aliases: Sequence[str] = ()) -> Attachment:
        """One more network for a running container (``network connect``): CNI ADD of *net* as *ifname*
        in its existing *netns*, no published ports."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ensure_host_rules(self.state_dir, net)
        who = cni.Invocation(container_id, str(netns), ifname=ifname, name=name)
        result = cni.add(conflist(self.state_dir, ports=False, net=net), who, _runtime_config((), net, aliases))
        return Attachment(result, (), net, name, aliases, ifname)

    def remove_interface(self, container_id: str, netns: Path | None, attachment: Attachment) -> None:
        """CNI DEL of one of ``add_interface``'s (in *netns* while it lives); logs and goes on on errors."""
        who = cni.Invocation(container_id, str(netns) if netns and netns.exists() else "", ifname=attachment.ifname,
                             name=attachment.name)
        plugins = conflist(self.state_dir, ports=False, net=attachment.network)
        runtime_config = _runtime_config((), attachment.network, attachment.aliases)
        for error in cni.delete(plugins, who, runtime_config, attachment.result or None):
            log.warning("network disconnect id=%s network=%s: %s", container_id, attachment.network.name, error)

    def detach(self, container_id: str, netns: Path, attachment: Attachment | None, *,
               net: Network | None = None, name: str | None = None) -> None:
        """The namespace, CNI DEL, the port claims, then the netns file. Logs and goes on when a plugin fails.

        The namespace goes first (its veth end with it: a DEL without a netns is cheaper, and allowed); the
        file stays to the end, so a crash half-way leaves the mark that makes the next cleanup retry.
        Without the *attachment* (a crash before it was recorded), *net* and *name* say what to undo.
        """
        ports = attachment.ports if attachment else ()
        prev = attachment.result if attachment else None
        _unmount(netns)
        try:
            who = cni.Invocation(container_id, "", name=attachment.name if attachment else name)
            plugins = conflist(self.state_dir, ports=bool(ports) or attachment is None,
                               net=attachment.network if attachment else net)
            runtime_config = _runtime_config(ports, attachment.network, attachment.aliases) if attachment else {}
            for error in cni.delete(plugins, who, runtime_config, prev):
                log.warning("network teardown id=%s: %s", container_id, error)
        except LaminaError as exc:
            log.warning("network teardown id=%s: %s", container_id, exc)
        self._release(container_id)
        netns.unlink(missing_ok=True)

    # ------------------------------------------------------------ port claims
    @contextlib.contextmanager
    def _ports_lock(self) -> Iterator[None]:
        (self.state_dir / "ports").mkdir(parents=True, exist_ok=True)
        with FileLock(self.state_dir / "ports.lock", timeout=30):
            yield

    def _claim(self, container_id: str, netns: Path, mapping: PortMapping) -> PortMapping:
        if mapping.host_port == 0:
            mapping = mapping.with_host_port(self._free_port(mapping))
        claim = self._claim_path(mapping)
        holder = _holder(claim)
        address = f"{mapping.host_ip or '0.0.0.0'}:{mapping.host_port}"
        if holder and holder[0] != container_id:
            raise PortAllocated(address, holder[0])
        if not holder and _in_use(mapping):
            raise PortAllocated(address)
        claim.write_text(f"{container_id} {netns}\n")
        return mapping

    def _free_port(self, mapping: PortMapping) -> int:
        for _ in range(64):
            port = _bind(mapping, 0)
            if not _holder(self._claim_path(mapping.with_host_port(port))):
                return port
        raise NetworkFailed("network bridge: no free host port found")

    def _claim_path(self, mapping: PortMapping) -> Path:
        return self.state_dir / "ports" / f"{mapping.protocol}-{mapping.host_port}"

    def _release(self, container_id: str) -> None:
        directory = self.state_dir / "ports"
        if not directory.is_dir():
            return
        with self._ports_lock():
            for claim in directory.iterdir():
                if _read_claim(claim)[0] == container_id:
                    claim.unlink(missing_ok=True)


def _runtime_config(ports: Sequence[PortMapping], net: Network | None = None,
                    aliases: Sequence[str] = ()) -> dict[str, Any]:
    extra = {"aliases": {cni_name(net): list(aliases)}} if net is not None and aliases else {}
    return {**extra, "portMappings": [{"hostPort": p.host_port, "containerPort": p.container_port,
                              "protocol": p.protocol, "hostIP": p.host_ip} for p in ports]}


def _read_claim(claim: Path) -> tuple[str, str]:
    """(container id, netns path) written in a claim file; empty strings when there is none."""
    try:
        cid, _, netns = claim.read_text().strip().partition(" ")
    except FileNotFoundError:
        return "", ""
    return cid, netns


def _holder(claim: Path) -> tuple[str, str] | None:
    """(container id, netns) of a live claim; None when there is none or its netns is gone."""
    cid, netns = _read_claim(claim)
    return (cid, netns) if netns and os.path.exists(netns) else None


def _bind(mapping: PortMapping, port: int) -> int:
    """Bind a probe socket of the mapping's protocol to *port* (0: any free one), release it: the port."""
    kind = socket.SOCK_DGRAM if mapping.protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are not users
        probe.bind((mapping.host_ip, port))
        return int(probe.getsockname()[1])


def _in_use(mapping: PortMapping) -> bool:
    """Whether a host process holds the port (a bind to it fails)."""
    try:
        _bind(mapping, mapping.host_port)
    except OSError as exc:
        return exc.errno == errno.EADDRINUSE
    return False


# ---------------------------------------------------------------- persistent network namespaces
def create_netns(path: Path) -> None:
    """A new network namespace kept alive by a bind mount on *path* (``unshare --net=PATH``), its
    loopback up (as crun does for a namespace it makes itself; CNI's bridge leaves ``lo`` down)."""
    import subprocess
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_netns(path)
    path.touch()
    from lamina._internal.proc import die_with_parent
    done = subprocess.run(["unshare", f"--net={path}", "ip", "link", "set", "lo", "up"], capture_output=True,
                          check=False, preexec_fn=die_with_parent)
    if done.returncode != 0:
        path.unlink(missing_ok=True)
        raise NetworkFailed(f"create network namespace {path}: {done.stderr.decode(errors='replace').strip()}")


def remove_netns(path: Path) -> None:
    """Unmount and remove a namespace file; nothing when it is not there."""
    _unmount(path)
    path.unlink(missing_ok=True)


def _unmount(path: Path) -> None:
    from lamina._internal.mount import umount
    with contextlib.suppress(OSError, LaminaError):  # EINVAL: not a mount point (any more)
        umount(path, 2)  # MNT_DETACH
