"""Published ports: docker's ``-p`` grammar, ``-P`` from the image's ExposedPorts, and the texts
``ps``, ``port`` and ``inspect`` show for them.

A ``PortMapping`` is one host port forwarded to one container port. ``host_port`` 0 means "any
free port", chosen when the container starts. Mappings are kept in records as their canonical
text (``ip:hostport:port/proto``, see ``PortMapping.spec``). Pure: no sockets, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lamina.errors import InvalidOption

PROTOCOLS = ("tcp", "udp", "sctp")


class PortMapping:
    """``host_ip:host_port`` on the host to ``container_port/protocol`` in the container."""

    __slots__ = ("container_port", "host_ip", "host_port", "protocol")

    def __init__(self, container_port: int, protocol: str = "tcp", host_port: int = 0, host_ip: str = "") -> None:
        self.container_port, self.protocol, self.host_port, self.host_ip = container_port, protocol, host_port, host_ip

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PortMapping) and self.spec == other.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    def __repr__(self) -> str:
        return f"PortMapping({self.spec!r})"

    @property
    def spec(self) -> str:
        """The canonical ``-p`` text: ``ip:hostport:port/proto`` (empty ip = all addresses)."""
        return f"{self.host_ip}:{self.host_port or ''}:{self.container_port}/{self.protocol}"

    @property
    def key(self) -> str:
        """docker's port key: ``80/tcp``."""
        return f"{self.container_port}/{self.protocol}"

    def with_host_port(self, port: int) -> PortMapping:
        return PortMapping(self.container_port, self.protocol, port, self.host_ip)


def parse_publish(spec: str) -> list[PortMapping]:
    """``-p [[ip:][hostPort]:]containerPort[/proto]``, ports or equal-length ranges (``8000-8001:80-81``)."""
    body, _, proto = spec.partition("/")
    proto = proto.lower() or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidOption(f"invalid publish spec {spec!r}: unknown protocol {proto!r}")
    host_ip, host, container = _split_publish(body, spec)
    cports = _port_range(container, spec)
    hports = _port_range(host, spec) if host else [0] * len(cports)
    if len(hports) == 1 and len(cports) > 1 and host:
        raise InvalidOption(f"invalid publish spec {spec!r}: port ranges do not match")
    if len(hports) != len(cports):
        raise InvalidOption(f"invalid publish spec {spec!r}: port ranges do not match")
    return [PortMapping(c, proto, h, host_ip) for h, c in zip(hports, cports, strict=True)]


def _split_publish(body: str, spec: str) -> tuple[str, str, str]:
    """(host ip, host ports, container ports); an IPv6 host ip is written in brackets."""
    if body.startswith("["):
        ip, sep, rest = body[1:].partition("]:")
        if not sep:
            raise InvalidOption(f"invalid publish spec {spec!r}")
        host, _, container = rest.rpartition(":")
        return ip, host, container
    parts = body.split(":")
    if len(parts) > 3:
        raise InvalidOption(f"invalid publish spec {spec!r}")
    parts = [""] * (3 - len(parts)) + parts
    ip = parts[0]
    if ip and not _looks_like_ipv4(ip):
        raise InvalidOption(f"invalid publish spec {spec!r}: invalid IP address {ip!r}")
    return ip, parts[1], parts[2]


def _looks_like_ipv4(text: str) -> bool:
    pieces = text.split(".")
    return len(pieces) == 4 and all(p.isdigit() and int(p) < 256 for p in pieces)


def _port_range(text: str, spec: str) -> list[int]:
    first, dash, last = text.partition("-")
    try:
        lo = int(first)
        hi = int(last) if dash else lo
    except ValueError:
        raise InvalidOption(f"invalid publish spec {spec!r}: invalid port {text!r}") from None
    if not 0 < lo <= hi <= 65535:
        raise InvalidOption(f"invalid publish spec {spec!r}: invalid port {text!r}")
    return list(range(lo, hi + 1))


def from_specs(specs: Iterable[str]) -> list[PortMapping]:
    """Mappings back from their canonical texts (as records keep them)."""
    return [m for spec in specs for m in parse_publish(spec)]


def exposed(image_config: Mapping[str, Any]) -> list[PortMapping]:
    """``-P``: every ExposedPorts entry of the image config to a free host port."""
    out = []
    for key in sorted(image_config.get("ExposedPorts") or {}):
        port, _, proto = str(key).partition("/")
        if port.isdigit():
            out.append(PortMapping(int(port), proto or "tcp"))
    return out


def merge(explicit: Sequence[PortMapping], publish_all: Sequence[PortMapping]) -> list[PortMapping]:
    """``-p`` mappings plus ``-P`` ones for container ports ``-p`` did not name (docker's rule)."""
    named = {m.key for m in explicit}
    return [*explicit, *(m for m in publish_all if m.key not in named)]


def docker_ports(mappings: Iterable[PortMapping]) -> dict[str, list[dict[str, str]]]:
    """``NetworkSettings.Ports`` / ``HostConfig.PortBindings``: ``{"80/tcp": [{"HostIp", "HostPort"}]}``."""
    out: dict[str, list[dict[str, str]]] = {}
    for m in mappings:
        out.setdefault(m.key, []).append({"HostIp": m.host_ip or "0.0.0.0",
                                          "HostPort": str(m.host_port) if m.host_port else ""})
    return out


def ps_text(mappings: Iterable[PortMapping]) -> str:
    """``ps``'s PORTS column: ``0.0.0.0:8080->80/tcp, 0.0.0.0:8443->443/tcp``."""
    return ", ".join(f"{m.host_ip or '0.0.0.0'}:{m.host_port}->{m.key}" for m in mappings)
