"""``lamina exec [-d] [-i] [-t] [-e K=V] [--env-file F] [-u USER] [-w DIR] [--privileged] CONTAINER COMMAND…``.

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
@click.option("--env-file", multiple=True, help="Read in a file of environment variables")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command")
@click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
@click.option("-w", "--workdir", help="Working directory inside the container")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@with_engine
def command(engine: Engine, detach: bool, interactive: bool, tty: bool, env: tuple[str, ...],
            env_file: tuple[str, ...], privileged: bool, user: str | None, workdir: str | None, container: str,
            command: tuple[str, ...]) -> None:
    """Execute a command in a running container."""
    import os

    from lamina.cli.main import engine_errors_exit
    from lamina.cli.runflags import env_files, host_env
    engine_errors_exit(125)
    environment = env_files(env_file) + host_env(list(env))   # "KEY" alone takes the host's value
    stdin = 0 if interactive else os.open(os.devnull, os.O_RDONLY)
    code = engine.containers.exec(container, list(command), env=environment, user=user, workdir=workdir,
                                  tty=tty, detach=detach, privileged=privileged,
                                  stdio=None if tty else (stdin, 1, 2))
    raise SystemExit(code)
