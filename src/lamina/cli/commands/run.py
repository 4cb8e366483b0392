"""``lamina run [OPTIONS] IMAGE [COMMAND] [ARG...]``: create and start a container.

Must not hold business logic. ``lamina.cli.main`` parses a plain ``run`` without click
(``runflags.parse_run``); this click form takes what that parser leaves (``--help``, errors)
and runs the same body, ``runflags.run``. Foreground runs exit with the container's status;
``-d`` prints the id once the container runs; engine errors exit 125, 126/127 when the
command cannot be invoked or is not found (docker's codes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from lamina.cli import runflags
from lamina.cli.clickflags import flag_options
from lamina.cli.commands.create import CONTEXT
from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("run", context_settings=CONTEXT)
@flag_options(runflags.RUN_FLAGS + runflags.RUN_ONLY_FLAGS)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@with_engine
def command(engine: Engine, image: str, command: tuple[str, ...], **opts: Any) -> None:
    """Create and run a new container from an image."""
    from lamina.cli.main import engine_errors_exit
    engine_errors_exit(125)
    raise SystemExit(runflags.run(engine, image, command, opts))
