"""``lamina builder prune``: forget the build cache and free what only it held.

Prints docker's ``Total reclaimed space: X``. Must not hold logic beyond argument shaping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.group("builder", context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """Manage builds."""


@command.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused build cache (the default here)")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@with_engine
def prune(engine: Engine, all_: bool, force: bool) -> None:
    """Remove build cache."""
    from lamina.cli.humanize import human_size
    freed = engine.build.prune()
    echo(f"Total reclaimed space: {human_size(freed)}")
