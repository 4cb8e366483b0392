"""The CNI list runner (lamina.network.cni) against fake plugins: order, prevResult, rollback, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamina.errors import NetworkFailed
from lamina.network import cni

PLUGIN = """#!/bin/sh
# a fake CNI plugin: logs its call, then answers from $FAKE_DIR/<type>.<command> or with its prevResult
conf=$(cat)
name=$(basename "$0")
printf '%s %s %s %s %s\\n' "$CNI_COMMAND" "$name" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" >> "$FAKE_DIR/calls"
printf '%s\\n' "$conf" > "$FAKE_DIR/$name.$CNI_COMMAND.stdin"
if [ -f "$FAKE_DIR/$name.$CNI_COMMAND.fail" ]; then cat "$FAKE_DIR/$name.$CNI_COMMAND.fail"; exit 1; fi
if [ "$CNI_COMMAND" = ADD ]; then printf '{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.%s/24"}]}' "${#name}"; fi
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("bridge", "portmap", "fw"):
        path = tmp_path / name
        path.write_text(PLUGIN.replace("$FAKE_DIR", str(tmp_path)))
        path.chmod(0o755)
    return tmp_path


def _conflist() -> dict:
    return {"cniVersion": "1.0.0", "name": "net", "plugins": [
        {"type": "bridge", "bridge": "br0"},
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "fw"}]}


def _who(plugins: Path) -> cni.Invocation:
    return cni.Invocation("c1", "/run/netns/c1", path=str(plugins))


def _calls(plugins: Path) -> list[str]:
    return (plugins / "calls").read_text().splitlines()


def test_add_runs_in_order_with_previous_result_and_capabilities(plugins: Path) -> None:
    result = cni.add(_conflist(), _who(plugins), {"portMappings": [{"hostPort": 8080}], "other": 1})
    assert _calls(plugins) == [f"ADD {n} c1 /run/netns/c1 eth0" for n in ("bridge", "portmap", "fw")]
    assert result["ips"][0]["address"] == "10.0.0.2/24"  # the last plugin's ("fw")
    bridge = json.loads((plugins / "bridge.ADD.stdin").read_text())
    portmap = json.loads((plugins / "portmap.ADD.stdin").read_text())
    assert bridge["name"] == "net" and bridge["cniVersion"] == "1.0.0" and "prevResult" not in bridge
    assert bridge["runtimeConfig"] == {}
    assert portmap["runtimeConfig"] == {"portMappings": [{"hostPort": 8080}]}
    assert portmap["prevResult"]["ips"][0]["address"] == "10.0.0.6/24"  # bridge's


def test_delete_runs_in_reverse_and_tries_every_plugin(plugins: Path) -> None:
    (plugins / "portmap.DEL.fail").write_text('{"code": 7, "msg": "no chain"}')
    errors = cni.delete(_conflist(), _who(plugins), {}, {"ips": []})
    assert [c.split()[1] for c in _calls(plugins)] == ["fw", "portmap", "bridge"]
    assert errors == ["network DEL portmap: no chain"]
    assert json.loads((plugins / "bridge.DEL.stdin").read_text())["prevResult"] == {"ips": []}


def test_failed_add_undoes_the_plugins_before_it(plugins: Path) -> None:
    (plugins / "fw.ADD.fail").write_text('{"code": 11, "msg": "iptables failed", "details": "exit 4"}')
    with pytest.raises(NetworkFailed, match="network ADD fw: iptables failed: exit 4"):
        cni.add(_conflist(), _who(plugins), {})
    assert [c.split()[:2] for c in _calls(plugins)] == [
        ["ADD", "bridge"], ["ADD", "portmap"], ["ADD", "fw"], ["DEL", "portmap"], ["DEL", "bridge"]]


def test_plugin_error_without_json_keeps_stderr(plugins: Path) -> None:
    (plugins / "bridge.ADD.fail").write_text("not json")
    with pytest.raises(NetworkFailed, match="network ADD bridge: not json"):
        cni.add(_conflist(), _who(plugins), {})


def test_missing_plugin_directory_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(NetworkFailed, match="containernetworking-plugins"):
        cni.plugin_dir((str(tmp_path),))
