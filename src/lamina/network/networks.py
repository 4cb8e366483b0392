"""Network definitions: docker's default ``bridge`` and the user-defined bridge networks of a root.

A user network (``network create``) is its own Linux bridge ``lm-<id[:12]>`` with its own IPv4 subnet
(``--subnet``, else the first free /24 of 10.90.0.0/16: not another network's of this root, not a
route the host already has), its gateway on the bridge, and a DNS server (the CNI ``dnsname``
plugin's dnsmasq, on the gateway) that answers the names of the containers on it, as docker's
embedded DNS does on user networks. Containers on different networks cannot reach each other
(``bridge.host_rules``). ``--internal`` networks have no route out.

Definitions are JSON files ``<root>/networks/<id>.json``, written atomically under
``<root>/networks/lock``. Must not know about containers: whether a network is in use is the
caller's question (``engine.networks``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from lamina._internal.fsops import atomic_write, is_plain_name
from lamina._internal.locking import FileLock
from lamina._internal.records import Record, asdict, field, record
from lamina.errors import Conflict, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_NAME = "bridge"
PREDEFINED = ("bridge", "host", "none")
USER_POOL = "10.90.0.0/16"   # split into /24s; the default bridge has 10.89.0.0/16
DNS_DOMAIN = "dns.lamina"


@record
class Network(Record):
    """A bridge network: where its containers get addresses and what bridge carries them."""

    id: str
    name: str
    bridge: str
    subnet: str
    gateway: str
    internal: bool = False
    dns: bool = False               # the dnsname plugin answers container names (user networks)
    labels: Mapping[str, str] = field(default_factory=dict)
    created: str = ""

    @property
    def user_defined(self) -> bool:
        return self.name != DEFAULT_NAME

    def check_address(self, address: str) -> None:
        """``--ip``: a host address of the subnet other than the gateway; InvalidArgument otherwise."""
        import ipaddress
        net, ip = ipaddress.IPv4Network(self.subnet), ipaddress.IPv4Address(address)
        if ip not in net or ip in (net.network_address, net.broadcast_address, ipaddress.IPv4Address(self.gateway)):
            raise InvalidArgument(f"invalid address {address}: not a host address of network {self.name} "
                                  f"({self.subnet}, gateway {self.gateway})")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "labels": dict(self.labels)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Network:
        return cls(**{k: v for k, v in data.items() if k in _FIELDS})


_FIELDS = ("id", "name", "bridge", "subnet", "gateway", "internal", "dns", "labels", "created")


def default_network() -> Network:
    """docker's ``bridge``: ``lamina0``, 10.89.0.0/16, no name service (as docker's default bridge)."""
    from lamina.digest import hexdigest
    from lamina.network.bridge import BRIDGE, GATEWAY, SUBNET
    return Network(id=hexdigest("sha256", b"lamina bridge network"), name=DEFAULT_NAME, bridge=BRIDGE,
                   subnet=SUBNET, gateway=GATEWAY)


class NetworkStore:
    """The user networks of one root."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def list(self) -> list[Network]:
        if not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                out.append(Network.from_json(json.loads(path.read_bytes())))
            except (OSError, ValueError, TypeError):
                continue   # a torn file cannot exist (atomic writes); a foreign one is not ours
        return sorted(out, key=lambda n: n.created)

    def find(self, name_or_id: str) -> Network:
        """``get``, with docker's default ``bridge`` too."""
        return default_network() if name_or_id == DEFAULT_NAME else self.get(name_or_id)

    def get(self, name_or_id: str) -> Network:
        """By name, full id or unique id prefix; NotFound as docker words it."""
        networks = self.list()
        for net in networks:
            if name_or_id in (net.name, net.id):
                return net
        matches = [n for n in networks if len(name_or_id) >= 1 and n.id.startswith(name_or_id)]
        if len(matches) == 1:
            return matches[0]
        raise NotFound(f"network {name_or_id} not found")

    def create(self, name: str, *, subnet: str | None = None, gateway: str | None = None,
               internal: bool = False, labels: Mapping[str, str] | None = None, dns: bool = True) -> Network:
        if name in PREDEFINED:
            raise InvalidArgument(f"{name} is a pre-defined network and cannot be created")
        if not is_plain_name(name, 255):
            raise InvalidArgument(f'invalid network name "{name}", only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
        self.directory.mkdir(parents=True, exist_ok=True)
        with FileLock(self.directory / "lock", timeout=30):
            existing = self.list()
            if any(n.name == name for n in existing):
                raise Conflict(f"network with name {name} already exists", network=name)
            net_subnet, net_gateway = _addresses(subnet, gateway, [n.subnet for n in existing])
            net_id = os.urandom(32).hex()
            net = Network(id=net_id, name=name, bridge=f"lm-{net_id[:12]}", subnet=net_subnet, gateway=net_gateway,
                          internal=internal, dns=dns, labels=dict(labels or {}),
                          created=_now())
            atomic_write(self.directory / f"{net_id}.json", json.dumps(net.to_json(), indent=1).encode())
        return net

    def remove(self, net: Network) -> None:
        with FileLock(self.directory / "lock", timeout=30):
            (self.directory / f"{net.id}.json").unlink(missing_ok=True)

    def __iter__(self) -> Iterator[Network]:
        return iter(self.list())


def _now() -> str:
    """RFC 3339 with nanoseconds, as docker writes ``Created`` (and so networks list in creation order)."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def _addresses(subnet: str | None, gateway: str | None, taken: list[str]) -> tuple[str, str]:
    """(subnet, gateway) as given and checked, or the first free /24 of the pool and its first host."""
    import ipaddress
    try:
        net = ipaddress.IPv4Network(subnet, strict=True) if subnet else _free_subnet(taken)
    except ValueError as exc:
        raise InvalidArgument(f"invalid subnet {subnet}: {exc}") from None
    if net.prefixlen > 30:
        raise InvalidArgument(f"invalid subnet {subnet}: too small for containers (at most /30)")
    others = [ipaddress.IPv4Network(t) for t in [*taken, _default_subnet()]]
    if subnet and any(net.overlaps(o) for o in others):
        raise Conflict(f"invalid pool request: pool {net} overlaps with another lamina network")
    try:
        gw = ipaddress.IPv4Address(gateway) if gateway else next(net.hosts())
    except ValueError as exc:
        raise InvalidArgument(f"invalid gateway {gateway}: {exc}") from None
    if gw not in net or gw in (net.network_address, net.broadcast_address):
        raise InvalidArgument(f"invalid gateway {gw}: not a host address of subnet {net}")
    return str(net), str(gw)


def _default_subnet() -> str:
    from lamina.network.bridge import SUBNET
    return SUBNET


def _free_subnet(taken: list[str]) -> Any:
    import ipaddress
    used = [ipaddress.IPv4Network(t) for t in taken] + _host_routes()
    for candidate in ipaddress.IPv4Network(USER_POOL).subnets(new_prefix=24):
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise Conflict(f"could not find an available, non-overlapping IPv4 address pool in {USER_POOL}")


def _host_routes() -> list[Any]:
    """The host's IPv4 routes except the default one: another root's bridge, a VPN, the LAN."""
    import ipaddress
    import socket
    import struct
    out: list[Any] = []
    try:
        with open("/proc/net/route") as f:
            rows = [line.split() for line in f.readlines()[1:]]
    except OSError:
        return out
    for row in rows:
        if len(row) < 8 or row[1] == "00000000":
            continue
        address = socket.inet_ntoa(struct.pack("<L", int(row[1], 16)))
        mask = socket.inet_ntoa(struct.pack("<L", int(row[7], 16)))
        out.append(ipaddress.IPv4Network(f"{address}/{mask}", strict=False))
    return out
