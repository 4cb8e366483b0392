"""``lamina run [OPTIONS] IMAGE [COMMAND] [ARG...]``: create and start a container.

Must not hold business logic. Foreground runs exit with the container's status; ``-d``
prints the id once the container runs; engine errors exit 125, 126/127 when the command
cannot be invoked or is not found (docker's codes).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from lamina.cli.commands.create import CONTEXT, build_spec, container_options
from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("run", context_settings=CONTEXT)
@container_options
@click.option("-d", "--detach", is_flag=True, help="Run container in background and print container ID")
@click.option("--rm", "auto_remove", is_flag=True, help="Automatically remove the container when it exits")
@click.option("-a", "--attach", "attach_streams", multiple=True,
              type=click.Choice(["stdin", "stdout", "stderr"], case_sensitive=False),
              help="Attach to STDIN, STDOUT or STDERR")
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@with_engine
def command(engine: Engine, image: str, command: tuple[str, ...], detach: bool, auto_remove: bool,
            attach_streams: tuple[str, ...], **opts: Any) -> None:
    """Create and run a new container from an image."""
    from lamina.cli.main import engine_errors_exit
    from lamina.container.monitor import Attach
    from lamina.errors import InvalidOption
    engine_errors_exit(125)
    if detach and opts["tty"]:
        raise InvalidOption("run: a detached container with a tty (-dt) is not supported yet; drop -t")
    if detach and attach_streams:
        raise InvalidOption("conflicting options: cannot specify both --attach and --detach")
    if opts["tty"] and opts["interactive"] and not os.isatty(0):
        raise InvalidOption("the input device is not a TTY")
    spec = build_spec(image, command, opts, auto_remove=auto_remove)
    if detach:
        container, _ = engine.containers.run(spec, attach=None)
        echo(container.id)
        return
    streams = {s.lower() for s in attach_streams} or {"stdout", "stderr"} | (
        {"stdin"} if opts["interactive"] else set())
    attach = Attach(stdin=0 if "stdin" in streams else None, stdout=1 if "stdout" in streams else None,
                    stderr=2 if "stderr" in streams else None)
    _, code = engine.containers.run(spec, attach=attach)
    raise SystemExit(code)
