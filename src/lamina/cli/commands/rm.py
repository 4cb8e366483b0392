"""``lamina rm [-f] [-v] CONTAINER...``: remove containers (running ones only with -f).

Must not hold business logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.commands.kill import each
from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("rm", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("containers", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container (uses SIGKILL)")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes associated with the container")
@with_engine
def command(engine: Engine, containers: tuple[str, ...], force: bool, volumes: bool) -> None:
    """Remove one or more containers."""
    each(containers, lambda name: engine.containers.remove(name, force=force, volumes=volumes))
