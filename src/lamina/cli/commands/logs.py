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
@with_engine
def command(engine: Engine, container: str, follow: bool, tail: str, timestamps: bool) -> None:
    """Fetch the logs of a container."""
    from lamina.errors import InvalidOption
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise InvalidOption(f"invalid value for --tail: {tail}")
    count = None if tail == "all" or int(tail) < 0 else int(tail)
    for entry in engine.containers.logs(container, tail=count, follow=follow):
        data = (entry.time.encode() + b" " + entry.data) if timestamps else entry.data
        fd = 2 if entry.stream == "stderr" else 1
        while data:
            data = data[os.write(fd, data):]
