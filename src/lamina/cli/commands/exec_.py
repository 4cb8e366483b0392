"""``lamina exec [-d] [-i] [-t] [-e K=V] [-u USER] [-w DIR] CONTAINER COMMAND [ARG...]``.

Must not hold business logic. Exits with the command's status; engine errors exit 125,
126/127 when the command cannot be invoked or is not found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("exec", context_settings={"allow_interspersed_args": False, "help_option_names": ["--help"]})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
@click.option("-w", "--workdir", help="Working directory inside the container")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@with_engine
def command(engine: Engine, detach: bool, interactive: bool, tty: bool, env: tuple[str, ...],
            user: str | None, workdir: str | None, container: str, command: tuple[str, ...]) -> None:
    """Execute a command in a running container."""
    import os

    from lamina.cli.main import engine_errors_exit
    engine_errors_exit(125)
    stdin = 0 if interactive else os.open(os.devnull, os.O_RDONLY)
    code = engine.containers.exec(container, list(command), env=list(env), user=user, workdir=workdir,
                                  tty=tty, detach=detach, stdio=None if tty else (stdin, 1, 2))
    raise SystemExit(code)
