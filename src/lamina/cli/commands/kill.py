"""``lamina kill [-s SIGNAL] CONTAINER...``: send a signal (default SIGKILL) to running containers.

Must not hold business logic. ``each`` is the shared per-container loop of the multi-name
verbs: print the name on success, "Error: …" on failure (podman's words: there is no daemon), exit 1 if any failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


def each(names: tuple[str, ...], action: Callable[[str], object], *, quiet: bool = False) -> None:
    from lamina.errors import LaminaError
    failed = False
    for name in names:
        try:
            action(name)
        except LaminaError as exc:
            echo(f"Error: {exc}", err=True)
            failed = True
            continue
        if not quiet:
            echo(name)
    if failed:
        raise SystemExit(1)


@click.command("kill", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("containers", nargs=-1, required=True)
@click.option("-s", "--signal", "sig", default="KILL", show_default=True, help="Signal to send to the container")
@with_engine
def command(engine: Engine, containers: tuple[str, ...], sig: str) -> None:
    """Kill one or more running containers."""
    each(containers, lambda name: engine.containers.kill(name, sig))
