"""``lamina logout [SERVER]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("logout", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("server", required=False, default="")
@with_engine
def command(engine: Engine, server: str) -> None:
    """Log out from a registry."""
    name = server or "docker.io"
    if engine.distribution.logout(server):
        echo(f"Removing login credentials for {name}")
    else:
        echo(f"Not logged in to {name}")
