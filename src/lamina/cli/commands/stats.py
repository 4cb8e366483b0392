"""``lamina stats [-a] [--no-stream] [--no-trunc] [--format] [CONTAINER...]``: resource use, docker's columns.

Must not hold business logic: the readings come from ``engine.containers.stats`` (cgroup counters
sampled over half a second for CPU %); this module formats them, once with ``--no-stream`` or
redrawn every second until interrupted.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.container.manager import ContainerStats
    from lamina.engine.engine import Engine

HEADERS = {"ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
           "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}


def row(stats: ContainerStats, *, no_trunc: bool) -> dict[str, Any]:
    from lamina.cli.humanize import bytes_size, human_size
    usage = stats.usage
    limit = usage.memory_limit or stats.memory_total
    return {"ID": stats.container.id if no_trunc else stats.container.id[:12], "Name": stats.container.name,
            "Container": stats.container.name, "CPUPerc": f"{stats.cpu_percent:.2f}%",
            "MemUsage": f"{bytes_size(usage.memory)} / {bytes_size(limit)}",
            "MemPerc": f"{100.0 * usage.memory / limit:.2f}%" if limit else "0.00%",
            "NetIO": f"{human_size(stats.net_rx)} / {human_size(stats.net_tx)}",
            "BlockIO": f"{human_size(usage.block_read)} / {human_size(usage.block_write)}",
            "PIDs": str(usage.pids)}


@click.command("stats", context_settings={"help_option_names": ["--help"]})
@click.argument("containers", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running)")
@click.option("--no-stream", is_flag=True, help="Disable streaming stats and only pull the first result")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.option("--format", "fmt", help="Format output using a custom template")
@with_engine
def command(engine: Engine, containers: tuple[str, ...], all_: bool, no_stream: bool, no_trunc: bool,
            fmt: str | None) -> None:
    """Display a live stream of container(s) resource usage statistics."""
    from lamina.cli.output import format_rows
    columns = [(HEADERS[c], c) for c in HEADERS]
    names = containers or (tuple(c.id for c, _ in engine.containers.list()) if all_ else ())
    while True:
        rows = [row(s, no_trunc=no_trunc) for s in engine.containers.stats(names)]
        text = format_rows(rows, fmt, columns, headers=HEADERS)
        if no_stream:
            sys.stdout.write(text)
            return
        sys.stdout.write("\x1b[2J\x1b[H" + text)   # docker clears the screen and redraws
        sys.stdout.flush()
