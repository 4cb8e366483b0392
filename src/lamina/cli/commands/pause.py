"""``lamina pause CONTAINER...``: freeze every process of running containers (cgroup freezer).

Must not hold business logic. Prints each name as given; a failure is reported per container
and the command exits 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.commands.kill import each
from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("pause", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("containers", nargs=-1, required=True)
@with_engine
def command(engine: Engine, containers: tuple[str, ...]) -> None:
    """Pause all processes within one or more containers."""
    each(containers, engine.containers.pause)
