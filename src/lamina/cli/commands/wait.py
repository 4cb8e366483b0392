"""``lamina wait CONTAINER...``: block until each container stops, then print its exit code.

Must not hold business logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.commands.kill import each
from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("wait", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("containers", nargs=-1, required=True)
@with_engine
def command(engine: Engine, containers: tuple[str, ...]) -> None:
    """Block until one or more containers stop, then print their exit codes."""
    each(containers, lambda name: echo(str(engine.containers.wait(name))), quiet=True)
