"""User network definitions: allocation, validation, lookup; and each network's iptables rules."""

from __future__ import annotations

import json

import pytest

from lamina.errors import Conflict, InvalidArgument, NotFound
from lamina.network import bridge, networks
from lamina.network.networks import NetworkStore, default_network


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setattr(networks, "_host_routes", lambda: [])
    return NetworkStore(tmp_path / "networks")


def test_create_allocates_free_subnets_and_persists(store, tmp_path, monkeypatch):
    a = store.create("a", labels={"k": "v"})
    assert (a.subnet, a.gateway, a.bridge) == ("10.90.0.0/24", "10.90.0.1", f"lm-{a.id[:12]}")
    import ipaddress
    monkeypatch.setattr(networks, "_host_routes", lambda: [ipaddress.IPv4Network("10.90.1.0/24")])
    b = store.create("b")
    assert b.subnet == "10.90.2.0/24"   # 10.90.1.0/24 is a host route already
    saved = json.loads((tmp_path / "networks" / f"{a.id}.json").read_text())
    assert saved["name"] == "a" and saved["labels"] == {"k": "v"}
    assert [n.name for n in NetworkStore(tmp_path / "networks").list()] == ["a", "b"]


def test_lookup_by_name_id_and_prefix(store):
    net = store.create("web", subnet="10.91.0.0/24", gateway="10.91.0.254")
    assert store.get("web") == net and store.get(net.id) == net and store.get(net.id[:6]) == net
    assert net.gateway == "10.91.0.254"
    with pytest.raises(NotFound, match="network nope not found"):
        store.get("nope")
    store.remove(net)
    with pytest.raises(NotFound):
        store.get("web")


@pytest.mark.parametrize(("name", "kw", "error", "match"), [
    ("bridge", {}, InvalidArgument, "pre-defined"),
    ("-bad", {}, InvalidArgument, "invalid network name"),
    ("x", {"subnet": "10.92.0.1/24"}, InvalidArgument, "invalid subnet"),
    ("x", {"subnet": "10.92.0.0/31"}, InvalidArgument, "too small"),
    ("x", {"subnet": "10.89.5.0/24"}, Conflict, "overlaps"),
    ("x", {"subnet": "10.92.0.0/24", "gateway": "10.93.0.1"}, InvalidArgument, "not a host address"),
    ("x", {"subnet": "10.92.0.0/24", "gateway": "10.92.0.255"}, InvalidArgument, "not a host address"),
])
def test_bad_definitions(store, name, kw, error, match):
    with pytest.raises(error, match=match):
        store.create(name, **kw)
    assert store.list() == []


def test_duplicate_name_and_overlap_with_another_network(store):
    store.create("one", subnet="10.92.0.0/16")
    with pytest.raises(Conflict, match="already exists"):
        store.create("one")
    with pytest.raises(Conflict, match="overlaps"):
        store.create("two", subnet="10.92.3.0/24")


def test_host_rules_isolate_networks(store):
    user = store.create("u")
    rules = bridge.host_rules(user)
    br = user.bridge
    assert rules[0] == ("filter", "FORWARD", "-i", br, "-o", br, "-j", "ACCEPT")   # inside first
    assert ("filter", "FORWARD", "-i", br, "-o", "lamina0", "-j", "DROP") in rules
    assert ("filter", "FORWARD", "-i", br, "-o", "lm+", "-j", "DROP") in rules
    assert rules[-1] == ("nat", "POSTROUTING", "-s", user.subnet, "!", "-o", br, "-j", "MASQUERADE")
    default = bridge.host_rules(default_network())
    assert ("filter", "FORWARD", "-i", "lamina0", "-o", "lm+", "-j", "DROP") in default
    internal = bridge.host_rules(store.create("i", internal=True))
    assert not any("MASQUERADE" in r for r in internal) and internal[-1][-1] == "DROP"
