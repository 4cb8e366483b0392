"""``lamina events [--since T] [--until T] [-f FILTER] [--format F]``: what lamina did, as docker shows it.

Reads ``<root>/events`` (``lamina._internal.events``): past events from ``--since`` on, then new ones as
they come (without ``--until``, until interrupted). Filters: ``type``, ``event``, ``container``, ``image``,
``network``, ``volume``, ``label`` (docker's; values of one key are alternatives, keys all apply).
Must not hold business logic.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import click

from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine

KEYS = ("type", "event", "container", "image", "network", "volume", "label")


@click.command("events", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--since", help="Show all events created since timestamp")
@click.option("--until", help="Stream events until this timestamp")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "fmt", help="Format the output using the given Go template")
@with_engine
def command(engine: Engine, since: str | None, until: str | None, filters: tuple[str, ...], fmt: str | None) -> None:
    """Get real time events from lamina."""
    from lamina._internal.events import read
    from lamina.cli.humanize import parse_instant
    now = time.time()
    start = parse_instant(since, "--since", now) if since else None
    end = parse_instant(until, "--until", now) if until else None
    wanted = _filters(filters)
    render = _renderer(fmt)
    follow = end is None or end > now
    for event in read(engine.root, follow=follow, stop=lambda: end is not None and time.time() >= end):
        when = int(str(event.get("timeNano", 0))) / 1e9
        if (start is None and when < now) or (start is not None and when < start) or \
                (end is not None and when >= end) or not _matches(event, wanted):
            continue
        sys.stdout.write(render(event) + "\n")
        sys.stdout.flush()


def _filters(items: tuple[str, ...]) -> dict[str, list[str]]:
    from lamina.errors import InvalidArgument
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in KEYS:
            raise InvalidArgument(f"invalid filter '{item}'")
        out.setdefault(key, []).append(value)
    return out


def _matches(event: dict[str, Any], wanted: dict[str, list[str]]) -> bool:
    actor = event.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    for key, values in wanted.items():
        if key == "type":
            ok = event.get("Type") in values
        elif key == "event":
            ok = str(event.get("Action", "")).split(":")[0] in values
        elif key == "label":
            ok = any(attributes.get(v.partition("=")[0]) == v.partition("=")[2] if "=" in v else v in attributes
                     for v in values)
        else:
            ok = event.get("Type") == key and any(
                v in (actor.get("ID"), attributes.get("name")) or str(actor.get("ID", "")).startswith(v)
                for v in values)
        if not ok:
            return False
    return True


def _renderer(fmt: str | None) -> Any:
    if fmt:
        from lamina.cli.gotemplate import Template
        template = Template(fmt)
        return lambda event: template.render({**event, "ID": (event.get("Actor") or {}).get("ID", ""),
                                              "Status": event.get("Action", "")})
    return _docker_line


def _docker_line(event: dict[str, Any]) -> str:
    """docker's plain line: ``2024-01-02T03:04:05.123456789Z container start <id> (image=…, name=…)``."""
    from lamina.container.model import timestamp_ns
    actor = event.get("Actor") or {}
    attributes = ", ".join(f"{k}={v}" for k, v in sorted((actor.get("Attributes") or {}).items()))
    when = timestamp_ns(int(event.get("timeNano", 0)))
    return f"{when} {event.get('Type')} {event.get('Action')} {actor.get('ID', '')}" + \
        (f" ({attributes})" if attributes else "")
