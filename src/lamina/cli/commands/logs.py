"""``lamina logs [-f] [--tail N] [-t] CONTAINER``: the container's json-file logs, stdout and stderr apart.

Must not hold business logic.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("logs", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("container")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("-n", "--tail", default="all", help='Number of lines to show from the end of the logs (default "all")')
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("--since", help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")')
@click.option("--until", help='Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")')
@with_engine
def command(engine: Engine, container: str, follow: bool, tail: str, timestamps: bool, since: str | None,
            until: str | None) -> None:
    """Fetch the logs of a container."""
    from lamina.errors import InvalidOption
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise InvalidOption(f"invalid value for --tail: {tail}")
    count = None if tail == "all" or int(tail) < 0 else int(tail)
    window = _window(since, until)
    for entry in engine.containers.logs(container, tail=count, follow=follow):
        if window is not None:
            when = _entry_time(entry.time)
            if when < window[0]:
                continue
            if when >= window[1]:
                break
        data = (entry.time.encode() + b" " + entry.data) if timestamps else entry.data
        fd = 2 if entry.stream == "stderr" else 1
        while data:
            data = data[os.write(fd, data):]


def _window(since: str | None, until: str | None) -> tuple[float, float] | None:
    """[since, until) as Unix times; None when neither flag was given."""
    if since is None and until is None:
        return None
    import time

    from lamina.cli.humanize import parse_instant
    now = time.time()
    return (parse_instant(since, "--since", now) if since else 0.0,
            parse_instant(until, "--until", now) if until else float("inf"))


def _entry_time(stamp: str) -> float:
    from lamina.cli.humanize import parse_timestamp
    return parse_timestamp(stamp).timestamp()
