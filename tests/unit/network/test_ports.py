"""docker's ``-p`` grammar and the texts ``ps``/``port``/``inspect`` show (lamina.network.ports)."""

from __future__ import annotations

import pytest

from lamina.errors import InvalidOption
from lamina.network.ports import (
    PortMapping,
    docker_ports,
    exposed,
    from_specs,
    merge,
    parse_publish,
    ps_text,
)


@pytest.mark.parametrize(("spec", "want"), [
    ("80", ["::80/tcp"]),
    ("8080:80", [":8080:80/tcp"]),
    ("127.0.0.1:8080:80", ["127.0.0.1:8080:80/tcp"]),
    ("127.0.0.1::80", ["127.0.0.1::80/tcp"]),
    ("53:53/udp", [":53:53/udp"]),
    ("8000-8001:80-81", [":8000:80/tcp", ":8001:81/tcp"]),
    ("80-81", ["::80/tcp", "::81/tcp"]),
    ("9000:9000/UDP", [":9000:9000/udp"]),
])
def test_parse_publish_canonical_text(spec: str, want: list[str]) -> None:
    assert [m.spec for m in parse_publish(spec)] == want


def test_canonical_spec_round_trips() -> None:
    for spec in ("80", "8080:80", "127.0.0.1:8080:80/udp", "127.0.0.1::80", "8000-8002:80-82"):
        mappings = parse_publish(spec)
        assert from_specs(m.spec for m in mappings) == mappings


def test_parsed_fields() -> None:
    (m,) = parse_publish("127.0.0.1:8080:80/udp")
    assert (m.host_ip, m.host_port, m.container_port, m.protocol, m.key) == ("127.0.0.1", 8080, 80, "udp", "80/udp")
    (any_port,) = parse_publish("80")
    assert (any_port.host_ip, any_port.host_port) == ("", 0)


@pytest.mark.parametrize("spec", ["", "abc", "0", "70000", "80/icmp", "1.2.3:80:80", "a:b:c:d",
                                  "8000-8002:80-81", "90-80", "8080:80-81", "[::1]80"])
def test_bad_publish_names_the_spec(spec: str) -> None:
    with pytest.raises(InvalidOption) as err:
        parse_publish(spec)
    assert repr(spec) in str(err.value)


def test_docker_shapes() -> None:
    mappings = [PortMapping(80, "tcp", 8080), PortMapping(53, "udp", 5353, "127.0.0.1"), PortMapping(80, "tcp", 8081)]
    assert docker_ports(mappings) == {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "0.0.0.0", "HostPort": "8081"}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]}
    assert docker_ports([PortMapping(80)]) == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": ""}]}
    assert ps_text(mappings[:2]) == "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp"


def test_publish_all_takes_exposed_ports_not_named_by_p() -> None:
    config = {"ExposedPorts": {"443/tcp": {}, "80/tcp": {}, "53/udp": {}, "bogus": {}}}
    assert [m.key for m in exposed(config)] == ["443/tcp", "53/udp", "80/tcp"]
    assert exposed({}) == []
    merged = merge(parse_publish("8080:80"), exposed(config))
    assert [m.spec for m in merged] == [":8080:80/tcp", "::443/tcp", "::53/udp"]
