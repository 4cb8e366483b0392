"""``lamina diff CONTAINER``: the rw layer's changes as docker's A/C/D lines.

Must not hold business logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("diff", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("container")
@with_engine
def command(engine: Engine, container: str) -> None:
    """Inspect changes to files on a container's filesystem."""
    for change in engine.containers.diff(container):
        echo(f"{change.kind.value} {change.path}")
