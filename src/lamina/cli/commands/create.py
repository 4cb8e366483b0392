"""``lamina create [OPTIONS] IMAGE [COMMAND] [ARG...]``.

Must not hold business logic: the options are ``lamina.cli.runflags.RUN_FLAGS`` (one table, which
the click-free ``run`` parser reads too) and the body is ``runflags.create``. Options stop at the
first positional (IMAGE), as docker's do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from lamina.cli import runflags
from lamina.cli.clickflags import flag_options
from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine

CONTEXT = {"allow_interspersed_args": False, "help_option_names": ["--help"]}


@click.command("create", context_settings=CONTEXT)
@flag_options(runflags.RUN_FLAGS)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@with_engine
def command(engine: Engine, image: str, command: tuple[str, ...], **opts: Any) -> None:
    """Create a new container."""
    from lamina.cli.main import engine_errors_exit
    engine_errors_exit(125)
    echo(runflags.create(engine, image, command, opts))
