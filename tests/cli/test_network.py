"""The default bridge network and published ports, end to end: real crun, CNI plugins and iptables.

Needs root, crun, busybox-static, the CNI plugins and iptables; skipped with the probe's reason
otherwise. Servers are busybox ``httpd``; the host side talks to them with urllib.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.network.bridge import STATE_DIR
from lamina.testing import probes
from lamina.testing.cli import Lamina

pytestmark = [
    pytest.mark.root, pytest.mark.runtime,
    pytest.mark.skipif(probes.crun() is not None, reason=str(probes.crun())),
    pytest.mark.skipif(probes.busybox() is not None, reason=str(probes.busybox())),
    pytest.mark.skipif(probes.bridge_network() is not None, reason=str(probes.bridge_network())),
    pytest.mark.timeout(120),
]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path) -> Iterator[Lamina]:
    driver = "overlay" if probes.overlay() is None else "copy"
    lamina = Lamina(tmp_path_factory.mktemp("net") / "root", driver)
    lamina.ok("import", "-c", "EXPOSE 80", "-c", "EXPOSE 53/udp", str(busybox_tar), "busybox:latest")
    yield lamina
    ids = lamina("ps", "-aq", "--no-trunc").out.split()
    if ids:
        lamina("rm", "-f", *ids)


@pytest.fixture(autouse=True)
def _clean(cli: Lamina) -> Iterator[None]:
    yield
    ids = cli("ps", "-aq", "--no-trunc").out.split()
    if ids:
        cli.ok("rm", "-f", *ids)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _get(url: str, attempts: int = 50) -> str:
    """GET *url*, retrying while the container's server starts."""
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                return str(reply.read().decode())
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"no answer from {url}")


def _inspect(cli: Lamina, name: str) -> dict:
    return json.loads(cli.ok("inspect", name))[0]


def _leftovers(cid: str) -> list[str]:
    """What a container may leave on the host: NAT rules, port claims, its netns file."""
    rules = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout
    found = [line for line in rules.splitlines() if cid in line]
    claims = STATE_DIR / "ports"
    found += [str(c) for c in (claims.iterdir() if claims.is_dir() else ()) if cid in c.read_text()]
    return found


def test_default_network_gives_an_address_a_route_and_hosts_entry(cli: Lamina) -> None:
    out = cli.ok("run", "--name", "n1", "-h", "box", "busybox", "sh", "-c",
                 "ip -4 -o addr show eth0; ip route; grep box /etc/hosts")
    address = out.split("inet ")[1].split("/")[0]
    assert address.startswith("10.89.") and "default via 10.89.0.1 dev eth0" in out
    assert f"{address}\tbox" in out
    info = _inspect(cli, "n1")
    assert info["HostConfig"]["NetworkMode"] == "bridge"
    assert info["NetworkSettings"]["IPAddress"] == ""  # not running: no address, like docker


def test_container_reaches_a_host_server_through_the_gateway(cli: Lamina) -> None:
    with socket.socket() as server:
        server.bind(("", 0))
        server.listen()
        port = server.getsockname()[1]
        child = subprocess.Popen(cli_argv(cli, "run", "--rm", "busybox", "sh", "-c",
                                          f"echo hello | nc -w 2 10.89.0.1 {port}"))
        server.settimeout(20)
        conn, peer = server.accept()
        with conn:
            assert conn.recv(16) == b"hello\n"
        assert peer[0].startswith("10.89.")
        assert child.wait(30) == 0


def cli_argv(cli: Lamina, *args: str) -> list[str]:
    import sys
    return [sys.executable, "-m", "lamina", "--root", str(cli.root), "--storage-driver", str(cli.driver), *args]


def test_published_port_reachable_on_loopback_and_listed(cli: Lamina) -> None:
    port = _free_port()
    cid = cli.ok("run", "-d", "--name", "web", "-p", f"{port}:80", "-p", "127.0.0.1::80",
                 "busybox", "httpd", "-f", "-p", "80", "-h", "/etc").strip()
    assert _get(f"http://127.0.0.1:{port}/hostname").strip() == cid[:12]
    lines = cli.ok("port", "web").splitlines()
    assert lines[0] == f"80/tcp -> 0.0.0.0:{port}"
    other = int(lines[1].rsplit(":", 1)[1])
    assert lines[1] == f"80/tcp -> 127.0.0.1:{other}" and other != port
    assert _get(f"http://127.0.0.1:{other}/hostname").strip() == cid[:12]
    assert cli.ok("port", "web", "80/tcp").splitlines() == [f"0.0.0.0:{port}", f"127.0.0.1:{other}"]
    missing = cli("port", "web", "81")
    assert missing.code == 1 and "No public port '81/tcp' published for web" in missing.err
    assert f"0.0.0.0:{port}->80/tcp" in cli.ok("ps", "--format", "{{.Ports}}")
    info = _inspect(cli, "web")
    assert info["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)},
                                                             {"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert info["NetworkSettings"]["Ports"]["80/tcp"][0] == {"HostIp": "0.0.0.0", "HostPort": str(port)}
    assert info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] == info["NetworkSettings"]["IPAddress"]


def test_stop_tears_down_and_start_publishes_again(cli: Lamina) -> None:
    port = _free_port()
    cid = cli.ok("run", "-d", "--name", "web2", "-p", f"{port}:80",
                 "busybox", "httpd", "-f", "-p", "80", "-h", "/etc").strip()
    _get(f"http://127.0.0.1:{port}/hostname")
    cli.ok("stop", "-t", "0", "web2")
    assert _leftovers(cid) == []
    assert cli.ok("port", "web2") == ""
    cli.ok("start", "web2")
    assert _get(f"http://127.0.0.1:{port}/hostname").strip() == cid[:12]
    cli.ok("rm", "-f", "web2")
    assert _leftovers(cid) == []
    assert not list((cli.root / "run" / "netns").glob(f"{cid}*"))


def test_publish_all_uses_the_image_exposed_ports(cli: Lamina) -> None:
    cli.ok("run", "-d", "--name", "all", "-P", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
    ports = dict(line.split(" -> ") for line in cli.ok("port", "all").splitlines())
    assert set(ports) == {"80/tcp", "53/udp"}
    assert _get(f"http://127.0.0.1:{ports['80/tcp'].rsplit(':', 1)[1]}/hostname")


def test_a_taken_host_port_is_refused(cli: Lamina) -> None:
    port = _free_port()
    cli.ok("run", "-d", "--name", "first", "-p", f"{port}:80", "busybox", "sleep", "30")
    second = cli("run", "-d", "--name", "second", "-p", f"{port}:80", "busybox", "sleep", "30")
    assert second.code == 125 and f"Bind for 0.0.0.0:{port} failed: port is already allocated" in second.err
    assert not _inspect(cli, "second")["State"]["Running"]
    with socket.socket() as holder:  # a host process on the port counts too
        holder.bind(("", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        third = cli("run", "--rm", "-p", f"{taken}:80", "busybox", "true")
        assert third.code == 125 and "port is already allocated" in third.err


def test_bad_publish_and_network_combinations(cli: Lamina) -> None:
    bad = cli("run", "--rm", "-p", "80:abc", "busybox", "true")
    assert bad.code == 125 and "invalid publish spec '80:abc'" in bad.err
    none = cli("run", "--rm", "--network", "none", "-p", "80", "busybox", "true")
    assert none.code == 125 and "conflicting options: port publishing" in none.err
    host = cli("run", "--rm", "--network", "host", "-p", "80", "busybox", "true")
    assert host.code == 0 and "Published ports are discarded when using host network mode" in host.err
    unknown = cli("run", "--rm", "--network", "mynet", "busybox", "true")
    assert unknown.code == 125 and "network mynet not found" in unknown.err
    links = cli.ok("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link").splitlines()
    assert [line.split(":")[1].strip() for line in links] == ["lo"]


def test_build_run_steps_join_the_bridge_unless_told_otherwise(cli: Lamina, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN ip -4 -o addr show eth0 | grep -q 'inet 10.89.' && ip route | grep -q 'default via 10.89.0.1'\n"
        "RUN --network=none test \"$(ip -o link | wc -l)\" = 1\n")
    cli.ok("build", "--no-cache", "-q", "-t", "netbuild", str(tmp_path))
    assert not list((cli.root / "run" / "build").glob("*.netns"))


def test_add_host_and_dns_flags_write_the_container_files(cli: Lamina) -> None:
    out = cli.ok("run", "--rm", "--add-host", "db:10.1.2.3", "--add-host", "gw:host-gateway", "--dns", "1.1.1.1",
                 "--dns-search", "example.com", "--dns-option", "ndots:2", "busybox", "sh", "-c",
                 "cat /etc/hosts /etc/resolv.conf")
    assert "10.1.2.3\tdb\n" in out and "10.89.0.1\tgw\n" in out
    assert "nameserver 1.1.1.1\n" in out and "search example.com\n" in out and "options ndots:2\n" in out
    assert out.count("nameserver") == 1  # --dns replaces the host's servers
    none = cli.ok("run", "--rm", "--network", "none", "--add-host", "x:1.2.3.4", "busybox", "cat", "/etc/hosts")
    assert none.endswith("1.2.3.4\tx\n")
    bad = cli("run", "--rm", "--add-host", "nohost", "busybox", "true")
    assert bad.code == 125 and "invalid argument 'nohost' for \"--add-host\" flag" in bad.err
    assert cli("run", "--rm", "--dns", "nope", "busybox", "true").err.strip() == "Error: nope is not an ip address"


def test_network_ls_and_inspect_show_the_bridge_and_its_containers(cli: Lamina) -> None:
    assert [line.split()[1] for line in cli.ok("network", "ls").splitlines()[1:]] == ["bridge", "host", "none"]
    ids = cli.ok("network", "ls", "-q").split()
    assert len(ids) == 3 and all(len(i) == 12 for i in ids)
    cid = cli.ok("run", "-d", "--name", "member", "busybox", "sleep", "30").strip()
    bridge = json.loads(cli.ok("network", "inspect", "bridge"))[0]
    assert bridge["IPAM"]["Config"] == [{"Subnet": "10.89.0.0/16", "Gateway": "10.89.0.1"}]
    member = bridge["Containers"][cid]
    assert member["Name"] == "member"
    assert member["IPv4Address"] == _inspect(cli, "member")["NetworkSettings"]["IPAddress"] + "/16"
    assert json.loads(cli.ok("network", "inspect", ids[1]))[0]["Name"] == "host"
    assert cli("network", "inspect", "nope").code == 1
    refused = cli("network", "rm", "bridge")
    assert refused.code == 1 and "pre-defined network" in refused.err


def _dnsname() -> bool:
    import os
    import shutil
    return os.access("/usr/lib/cni/dnsname", os.X_OK) and shutil.which("dnsmasq") is not None


def test_user_network_names_isolation_and_removal(cli: Lamina) -> None:
    net_id = cli.ok("network", "create", "--label", "team=a", "appnet").strip()
    bridge = f"lm-{net_id[:12]}"
    try:
        info = json.loads(cli.ok("network", "inspect", "appnet"))[0]
        assert (info["Id"], info["Labels"], info["Options"]["com.docker.network.bridge.name"]) == (
            net_id, {"team": "a"}, bridge)
        assert info["IPAM"]["Config"][0]["Subnet"].endswith(".0/24")
        cid = cli.ok("run", "-d", "--name", "db", "--network", "appnet", "--network-alias", "database",
                     "busybox", "sleep", "30").strip()
        endpoint = _inspect(cli, "db")["NetworkSettings"]["Networks"]["appnet"]
        assert endpoint["NetworkID"] == net_id and endpoint["Aliases"] == ["db", "database"]
        ip = endpoint["IPAddress"]
        assert json.loads(cli.ok("network", "inspect", "appnet"))[0]["Containers"][cid]["Name"] == "db"
        target = "db" if _dnsname() else ip
        out = cli.ok("run", "--rm", "--network", "appnet", "busybox", "sh", "-c",
                     f"ping -c1 -W2 {target} >/dev/null && echo reached; cat /etc/resolv.conf")
        assert out.startswith("reached\n")
        if _dnsname():
            assert "search dns.lamina\nnameserver " in out
            alias = cli.ok("run", "--rm", "--network", "appnet", "busybox", "ping", "-c1", "-W2", "database")
            assert f"({ip})" in alias.splitlines()[0]
        other = cli("run", "--rm", "busybox", "ping", "-c1", "-W1", ip)   # the default bridge cannot reach it
        assert other.code != 0
        busy = cli("network", "rm", "appnet")
        assert busy.code == 1 and "has active endpoints" in busy.err
        assert cli.ok("ps", "--filter", "network=appnet", "--format", "{{.Names}} {{.Networks}}") == "db appnet\n"
        cli.ok("rm", "-f", "db")
        assert cli.ok("network", "rm", "appnet") == "appnet\n"
        assert subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode != 0
        rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True, check=True).stdout
        assert bridge not in rules
    finally:
        cli("rm", "-f", "db")
        cli("network", "rm", "appnet")


def test_network_bad_input(cli: Lamina) -> None:
    cli.ok("network", "create", "--subnet", "10.93.7.0/24", "dup")
    try:
        assert "already exists" in cli("network", "create", "dup").err
        assert cli("network", "create", "--subnet", "10.93.7.128/25", "overlap").code == 1
        assert cli("network", "create", "host").code == 1
        assert cli("network", "create", "--subnet", "nonsense", "bad").code == 1
        assert cli("network", "create", "--subnet", "10.94.0.0/24", "--gateway", "10.95.0.1", "bad").code == 1
        missing = cli("run", "--rm", "--network", "nosuch", "busybox", "true")
        assert missing.code == 125 and "network nosuch not found" in missing.err
        assert [line.split()[1] for line in cli.ok("network", "ls").splitlines()[1:]] == [
            "bridge", "host", "none", "dup"]
        assert cli.ok("network", "prune", "-f") == "Deleted Networks:\ndup\n"
    finally:
        cli("network", "rm", "dup")


def _fetch(cli: Lamina, *args: str) -> str:
    """busybox wget in a container (its -T segfaults: no timeout flag), retried while httpd starts."""
    for _ in range(50):
        res = cli("run", "--rm", *args)
        if res.code == 0:
            return res.out
        time.sleep(0.1)
    raise AssertionError(f"no answer: {res.err}")


def test_loopback_up_and_sharing_another_containers_namespaces(cli: Lamina) -> None:
    srv = cli.ok("run", "-d", "--name", "srv", "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc").strip()
    own = _fetch(cli, "--network", "container:srv", "busybox", "wget", "-qO-", "http://127.0.0.1:8080/hostname")
    assert own == srv[:12] + "\n"   # srv's loopback is up, and this container is on it
    ps = cli.ok("run", "--rm", "--network", "container:srv", "--pid", "container:srv", "busybox", "ps", "-o", "comm")
    assert "httpd" in ps.split()
    info = _inspect(cli, "srv")["HostConfig"]
    assert info["NetworkMode"] == "bridge"
    cli.ok("create", "--name", "joiner", "--network", f"container:{srv[:12]}", "--ipc", "container:srv",
           "busybox", "true")
    host_config = _inspect(cli, "joiner")["HostConfig"]
    assert (host_config["NetworkMode"], host_config["IpcMode"]) == (f"container:{srv}", f"container:{srv}")
    for flags in (("-p", "80:80"), ("--add-host", "a:1.2.3.4"), ("-h", "x"), ("--dns", "1.1.1.1")):
        res = cli("run", "--rm", "--network", "container:srv", *flags, "busybox", "true")
        assert res.code == 125 and "and the network mode" in res.err
    assert "no such container" in cli("run", "--rm", "--network", "container:nope", "busybox", "true").err
    cli.ok("stop", "-t", "1", "srv")
    stopped = cli("start", "joiner")
    assert stopped.code != 0 and "join the network namespace" in stopped.err


def test_network_connect_and_disconnect(cli: Lamina) -> None:
    cli.ok("network", "create", "front")
    cli.ok("network", "create", "back")
    try:
        cli.ok("run", "-d", "--name", "api", "--network", "front", "busybox", "sleep", "30")
        cli.ok("run", "-d", "--name", "store", "--network", "back", "busybox", "sleep", "30")
        store_ip = _inspect(cli, "store")["NetworkSettings"]["Networks"]["back"]["IPAddress"]
        assert cli("exec", "api", "ping", "-c1", "-W1", store_ip).code != 0   # isolated networks
        cli.ok("network", "connect", "--alias", "backend", "back", "api")
        assert cli.ok("exec", "api", "ping", "-c1", "-W2", store_ip).startswith("PING")
        networks = _inspect(cli, "api")["NetworkSettings"]["Networks"]
        assert set(networks) == {"front", "back"} and networks["back"]["Aliases"] == ["api", "backend"]
        assert cli.ok("ps", "--filter", "name=api", "--format", "{{.Networks}}") == "front,back\n"
        if _dnsname():   # the other containers on the connected network find it by name and alias
            out = cli.ok("exec", "store", "ping", "-c1", "-W2", "backend")
            assert f"({networks['back']['IPAddress']})" in out.splitlines()[0]
        busy = cli("network", "rm", "back")
        assert busy.code == 1 and "api" in busy.err
        assert "already exists" in cli("network", "connect", "back", "api").err
        assert "first network" in cli("network", "disconnect", "front", "api").err
        cli.ok("network", "disconnect", "back", "api")
        assert set(_inspect(cli, "api")["NetworkSettings"]["Networks"]) == {"front"}
        assert cli("exec", "api", "ping", "-c1", "-W1", store_ip).code != 0
        cli.ok("stop", "-t", "1", "api")
        cli.ok("network", "connect", "back", "api")   # a stopped container: at its next start
        cli.ok("start", "api")
        assert set(_inspect(cli, "api")["NetworkSettings"]["Networks"]) == {"front", "back"}
        assert "host" in cli("network", "connect", "back", cli.ok(
            "run", "-d", "--network", "host", "busybox", "sleep", "30").strip()).err
    finally:
        ids = cli("ps", "-aq").out.split()
        if ids:
            cli("rm", "-f", *ids)
        cli("network", "rm", "front", "back")
    assert subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout.count("lm-") == 0


def test_fixed_ip_and_mac_on_a_user_network(cli: Lamina) -> None:
    cli.ok("network", "create", "--subnet", "10.97.0.0/24", "fixed")
    try:
        out = cli.ok("run", "--rm", "--network", "fixed", "--ip", "10.97.0.50", "--mac-address", "02:42:AC:11:00:99",
                     "busybox", "sh", "-c", "ip -4 -o addr show eth0; cat /sys/class/net/eth0/address")
        assert "inet 10.97.0.50/24" in out and out.endswith("02:42:ac:11:00:99\n")
        cli.ok("run", "-d", "--name", "pinned", "--network", "fixed", "--ip", "10.97.0.60", "busybox", "sleep", "30")
        taken = cli("run", "--rm", "--network", "fixed", "--ip", "10.97.0.60", "busybox", "true")
        assert taken.code == 125 and "10.97.0.60" in taken.err
        for args, words in ((("--network", "fixed", "--ip", "10.98.0.1"), "not a host address"),
                            (("--network", "fixed", "--ip", "10.97.0.1"), "gateway"),
                            (("--ip", "10.89.0.9"), "user defined networks only"),
                            (("--mac-address", "zz"), "not a valid mac address")):
            res = cli("run", "--rm", *args, "busybox", "true")
            assert res.code == 125 and words in res.err, res.err
    finally:
        cli("rm", "-f", "pinned")
        cli("network", "rm", "fixed")


def test_expose_adds_ports_for_publish_all(cli: Lamina) -> None:
    cli.ok("run", "-d", "--name", "exp", "--expose", "8080", "--expose", "9000-9001/udp", "-P", "busybox",
           "sleep", "30")
    published = cli.ok("port", "exp").splitlines()
    assert sorted(line.split(" -> ")[0] for line in published) == ["53/udp", "80/tcp", "8080/tcp", "9000/udp",
                                                                   "9001/udp"]
    assert cli("run", "--rm", "--expose", "abc", "busybox", "true").code == 125
