"""Run a CNI network configuration list: ADD in order, DEL in reverse, as the CNI 1.0 spec says.

The plugins are the reference ones (``containernetworking-plugins``: bridge, host-local,
portmap, firewall), the same podman ran before netavark. Each is an executable that gets its
configuration on stdin and the container in ``CNI_*`` environment variables, and answers with
a JSON result or a JSON error. Must not know about containers or images: it takes a netns path
and an id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from lamina.errors import NetworkFailed

PLUGIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin", "/usr/libexec/cni")
CNI_VERSION = "1.0.0"
TIMEOUT = 60.0


def plugin_dir(dirs: Sequence[str] = PLUGIN_DIRS) -> str:
    """The first directory holding the ``bridge`` plugin; NetworkFailed when there is none."""
    for directory in dirs:
        if os.access(os.path.join(directory, "bridge"), os.X_OK):
            return directory
    raise NetworkFailed("network bridge: no CNI plugins found in " + ", ".join(dirs)
                        + " (install containernetworking-plugins, or use --network none|host)")


class Invocation:
    """Who the plugins act for: container id, netns path and interface name."""

    __slots__ = ("args", "container_id", "ifname", "netns", "path")

    def __init__(self, container_id: str, netns: str, *, ifname: str = "eth0", path: str | None = None,
                 name: str | None = None, ip: str | None = None, mac: str | None = None) -> None:
        self.container_id, self.netns, self.ifname = container_id, netns, ifname
        self.path = path or plugin_dir()
        # the container's name where podman passes it (the dnsname plugin registers it), and the
        # address (host-local) and MAC (bridge) asked for
        args = [f"K8S_POD_NAME={name}" if name else "", f"IP={ip}" if ip else "", f"MAC={mac}" if mac else ""]
        self.args = ";".join(["IgnoreUnknown=1", *filter(None, args)]) if any(args) else ""

    def env(self, command: str) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "CNI_COMMAND": command,
                "CNI_CONTAINERID": self.container_id, "CNI_NETNS": self.netns, "CNI_IFNAME": self.ifname,
                "CNI_PATH": self.path, "CNI_ARGS": self.args}


def add(conflist: Mapping[str, Any], who: Invocation, runtime_config: Mapping[str, Any]) -> dict[str, Any]:
    """ADD every plugin in order, each seeing the previous result; the last result.

    A failure runs DEL for the plugins already added, then raises NetworkFailed.
    """
    result: dict[str, Any] | None = None
    done: list[Mapping[str, Any]] = []
    for plugin in conflist["plugins"]:
        try:
            result = _call("ADD", _plugin_config(conflist, plugin, result, runtime_config), who)
        except NetworkFailed:
            delete({**conflist, "plugins": done}, who, runtime_config, result)
            raise
        done.append(plugin)
    return result or {}


def delete(conflist: Mapping[str, Any], who: Invocation, runtime_config: Mapping[str, Any],
           prev_result: Mapping[str, Any] | None) -> list[str]:
    """DEL every plugin in reverse order; the errors (each plugin is tried)."""
    errors = []
    for plugin in reversed(conflist["plugins"]):
        try:
            _call("DEL", _plugin_config(conflist, plugin, prev_result, runtime_config), who)
        except NetworkFailed as exc:
            errors.append(str(exc))
    return errors


def _plugin_config(conflist: Mapping[str, Any], plugin: Mapping[str, Any], prev: Mapping[str, Any] | None,
                   runtime_config: Mapping[str, Any]) -> dict[str, Any]:
    config = {**plugin, "name": conflist["name"], "cniVersion": conflist.get("cniVersion", CNI_VERSION)}
    wanted = {k for k, on in (plugin.get("capabilities") or {}).items() if on}
    config["runtimeConfig"] = {k: v for k, v in runtime_config.items() if k in wanted}
    if prev is not None:
        config["prevResult"] = prev
    return config


def _call(command: str, config: Mapping[str, Any], who: Invocation) -> dict[str, Any]:
    import subprocess

    from lamina._internal.proc import die_with_parent
    kind = str(config["type"])
    binary = os.path.join(who.path, kind)
    try:  # a plugin outliving a killed CLI would finish an ADD after recovery ran the DEL
        done = subprocess.run([binary], input=json.dumps(config).encode(), env=who.env(command),
                              capture_output=True, timeout=TIMEOUT, check=False, preexec_fn=die_with_parent)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkFailed(f"network {command} {kind}: {exc}") from exc
    if done.returncode != 0:
        raise NetworkFailed(f"network {command} {kind}: {_error_text(done.stdout, done.stderr)}")
    return _result(done.stdout) if command == "ADD" else {}


def _error_text(stdout: bytes, stderr: bytes) -> str:
    try:
        error = json.loads(stdout)
        text = str(error.get("msg") or "")
        details = str(error.get("details") or "")
        return f"{text}: {details}" if details and details != text else text or "failed"
    except (ValueError, AttributeError):
        return (stderr or stdout).decode(errors="replace").strip() or "failed"


def _result(stdout: bytes) -> dict[str, Any]:
    try:
        result = json.loads(stdout) if stdout.strip() else {}
    except ValueError as exc:
        raise NetworkFailed(f"network ADD: a plugin printed a result that is not JSON: {exc}") from exc
    return result if isinstance(result, dict) else {}
