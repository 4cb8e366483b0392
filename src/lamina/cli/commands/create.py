"""``lamina create [OPTIONS] IMAGE [COMMAND] [ARG...]``, and the click form of the docker-run options.

Must not hold business logic: the options are ``lamina.cli.runflags.RUN_FLAGS`` (one table, which
the click-free ``run`` parser reads too) and the body is ``runflags.create``. Options stop at the
first positional (IMAGE), as docker's do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from lamina.cli import runflags
from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine

CONTEXT = {"allow_interspersed_args": False, "help_option_names": ["--help"]}


def click_option(flag: runflags.Flag) -> Callable[[Any], Any]:
    """The click option for one ``runflags.Flag``."""
    if flag.kind == runflags.FLAG:
        return click.option(*flag.names, flag.dest, is_flag=True, help=flag.help)
    kind: Any = flag.type
    if flag.dest == "attach_streams":
        kind = click.Choice(runflags.ATTACH_STREAMS, case_sensitive=False)
    return click.option(*flag.names, flag.dest, type=kind, multiple=flag.kind == runflags.MULTI,
                        default=flag.default if flag.kind == runflags.VALUE else None, help=flag.help)


def flag_options(flags: Sequence[runflags.Flag]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a click command with *flags*, in table order."""
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for flag in reversed(flags):
            func = click_option(flag)(func)
        return func
    return decorate


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
