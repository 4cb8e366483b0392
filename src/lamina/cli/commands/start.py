"""``lamina start [-a] [-i] CONTAINER...``: start created or stopped containers.

Must not hold business logic. Detached starts print each name; ``-a`` waits for the (one)
container and exits with its status; engine errors exit 125, 126/127 for the command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("start", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("containers", nargs=-1, required=True)
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN")
@with_engine
def command(engine: Engine, containers: tuple[str, ...], attach: bool, interactive: bool) -> None:
    """Start one or more stopped containers."""
    from lamina.cli.main import engine_errors_exit
    from lamina.container.monitor import Attach
    from lamina.errors import InvalidOption
    engine_errors_exit(125)
    if attach or interactive:
        if len(containers) > 1:
            raise InvalidOption("you cannot start and attach multiple containers at once")
        code = engine.containers.start(containers[0], attach=Attach(stdin=0 if interactive else None))
        raise SystemExit(code)
    for name in containers:
        engine.containers.start(name)
        echo(name)
