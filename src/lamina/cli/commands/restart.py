"""``lamina restart [-t SECONDS] CONTAINER...``: stop (with the timeout) then start detached.

Must not hold business logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.commands.kill import each
from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("restart", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("containers", nargs=-1, required=True)
@click.option("-t", "--time", "timeout", type=int, help="Seconds to wait before killing the container")
@click.option("-s", "--signal", "sig", help="Signal to send to the container")
@with_engine
def command(engine: Engine, containers: tuple[str, ...], timeout: int | None, sig: str | None) -> None:
    """Restart one or more containers."""
    each(containers, lambda name: engine.containers.restart(name, timeout, sig))
