"""``lamina top CONTAINER [ps OPTIONS]``: the container's processes as ``ps -ef`` shows them.

Must not hold business logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("top", context_settings={"allow_interspersed_args": False, "help_option_names": ["--help"]})
@click.argument("container")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@with_engine
def command(engine: Engine, container: str, ps_args: tuple[str, ...]) -> None:
    """Display the running processes of a container."""
    from lamina.cli.output import tabwrite
    titles, rows = engine.containers.top(container, ps_args)
    lines = ["\t".join(titles)] + ["\t".join(r) for r in rows]
    echo(tabwrite("\n".join(lines)).rstrip("\n"))
