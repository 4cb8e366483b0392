"""``lamina ps``: list containers with docker's columns, -a -q -s -l -n --no-trunc --filter --format.

Must not hold business logic beyond shaping rows: STATUS is docker's "Up 3 seconds",
"Exited (0) 2 minutes ago", "Created"; COMMAND is quoted and cut to 20 columns.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.container.model import Container, ContainerState
    from lamina.engine.engine import Engine

HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
           "RunningFor": "CREATED", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES", "Size": "SIZE",
           "State": "STATE", "Mounts": "MOUNTS", "Labels": "LABELS", "Networks": "NETWORKS"}
COLUMNS = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"]


def _seconds(stamp: str) -> float:
    from lamina.cli.humanize import parse_timestamp
    from lamina.errors import InvalidOption
    try:
        return parse_timestamp(stamp).timestamp()
    except InvalidOption:
        return time.time()


def status_text(state: ContainerState, now: float) -> str:
    """docker's State.String()."""
    from lamina.cli.humanize import human_duration
    from lamina.container.model import State
    if state.status in (State.RUNNING, State.PAUSED):
        text = "Up " + human_duration(now - _seconds(state.started_at))
        if state.status is State.PAUSED:
            return text + " (Paused)"
        status = str((state.health or {}).get("Status", ""))
        return text + (f" (health: {status})" if status == "starting" else f" ({status})" if status else "")
    if state.status is State.RESTARTING:
        return f"Restarting ({state.exit_code}) {human_duration(now - _seconds(state.finished_at))} ago"
    if state.status is State.DEAD:
        return "Dead"
    if state.status is State.EXITED:
        if not state.finished_at:
            return f"Exited ({state.exit_code})"
        return f"Exited ({state.exit_code}) {human_duration(now - _seconds(state.finished_at))} ago"
    return "Created"


def _ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def row(engine: Engine, container: Container, state: ContainerState, *, no_trunc: bool, size: bool,
        now: float) -> dict[str, Any]:
    from lamina.cli.humanize import created_ago, human_size
    from lamina.network.ports import ps_text
    command = container.command if no_trunc else _ellipsis(container.command, 20)
    created = _seconds(container.created)
    out: dict[str, Any] = {
        "ID": container.id if no_trunc else container.id[:12], "Image": container.image_name,
        "Command": json.dumps(command, ensure_ascii=False), "RunningFor": created_ago(created, now),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(created)),
        "Status": status_text(state, now), "State": state.status.value,
        "Ports": ps_text(engine.containers.ports(container, state)),
        "Names": container.name, "Labels": ",".join(f"{k}={v}" for k, v in container.all_labels.items()),
        "Networks": _networks(container),
        "Mounts": ",".join(m.name or m.source for m in container.mounts),
    }
    if size:
        rw = engine.containers.size(container)
        out["Size"] = f"{human_size(rw)} (virtual {human_size(rw + engine.containers.image_size(container))})"
    return out


def _networks(container: Container) -> str:
    """docker's NETWORKS column: every network of a bridge container, else host or none."""
    if container.options.get("network") == "bridge":
        from lamina.container.netconnect import names
        return ",".join(names(container))
    return "host" if container.options.get("network") == "host" else "none"


def _match(container: Container, state: ContainerState, key: str, value: str) -> bool:
    from lamina.errors import InvalidOption
    if key == "status":
        return state.status.value == value
    if key == "name":
        return re.search(value, container.name) is not None
    if key == "id":
        return container.id.startswith(value)
    if key == "ancestor":
        return value in (container.image_name, container.image_id) or container.image_id.startswith(
            "sha256:" + value) or container.image_name.split(":")[0] == value
    if key == "exited":
        return state.status.value == "exited" and str(state.exit_code) == value
    if key == "volume":
        return any(value in (m.name, m.destination, m.source) for m in container.mounts)
    if key == "health":
        return str((state.health or {}).get("Status", "none")) == value
    if key == "network":
        return value in _networks(container).split(",")
    if key == "label":
        name, sep, wanted = value.partition("=")
        labels = container.all_labels
        return name in labels and (not sep or labels[name] == wanted)
    raise InvalidOption(f"invalid filter '{key}'")


def select(items: list[tuple[Container, ContainerState]], filters: tuple[str, ...], *, all_: bool,
           last: int | None) -> list[tuple[Container, ContainerState]]:
    by_key: dict[str, list[str]] = {}
    for spec in filters:
        key, _, value = spec.partition("=")
        by_key.setdefault(key, []).append(value)
    show_all = all_ or last is not None or "status" in by_key or "exited" in by_key
    out = [(c, s) for c, s in items if show_all or s.running]
    for key in ("before", "since"):   # created before / after another container (docker's)
        for value in by_key.pop(key, []):
            other = next((c for c, _ in items if value in (c.name, c.id) or c.id.startswith(value)), None)
            if other is None:
                from lamina.errors import ContainerNotFound
                raise ContainerNotFound(value)
            out = [(c, s) for c, s in out if (_seconds(c.created) < _seconds(other.created)) == (key == "before")
                   and c.id != other.id]
    for key, values in by_key.items():
        out = [(c, s) for c, s in out if any(_match(c, s, key, v) for v in values)]
    return out[:last] if last is not None and last >= 0 else out


@click.command("ps", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running)")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "fmt", help="Format output using a custom template")
@click.option("-n", "--last", type=int, help="Show n last created containers (includes all states)")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container (includes all states)")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes")
@with_engine
def command(engine: Engine, all_: bool, filters: tuple[str, ...], fmt: str | None, last: int | None,
            latest: bool, no_trunc: bool, quiet: bool, size: bool) -> None:
    """List containers."""
    from lamina.cli.output import format_rows
    items = select(engine.containers.list(), filters, all_=all_, last=1 if latest else last)
    now = time.time()
    want_size = size or bool(fmt and ".Size" in fmt)
    rows = [row(engine, c, s, no_trunc=no_trunc, size=want_size, now=now) for c, s in items]
    columns = COLUMNS + (["Size"] if size else [])
    out = format_rows(rows, fmt, [(HEADERS[c], c) for c in columns], headers=HEADERS,
                      quiet_key="ID" if quiet else None)
    if out:
        echo(out.rstrip("\n"))
