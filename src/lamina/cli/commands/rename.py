"""``lamina rename CONTAINER NEW_NAME``: give a container (running or not) another name.

Must not hold business logic. Prints nothing on success, as docker does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("rename", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("container")
@click.argument("new_name")
@with_engine
def command(engine: Engine, container: str, new_name: str) -> None:
    """Rename a container."""
    engine.containers.rename(container, new_name)
