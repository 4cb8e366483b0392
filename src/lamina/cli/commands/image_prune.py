"""``lamina image prune [-a] [-f]``: remove dangling (or, with -a, all unused) images, docker's output.

Must not hold business logic (``SystemService.prune_images``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("prune", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling ones")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'until=24h', 'label=k=v')")
@with_engine
def command(engine: Engine, all_: bool, force: bool, filters: tuple[str, ...]) -> None:
    """Remove unused images."""
    from lamina.cli.commands.system import render_prune
    from lamina.cli.prunefilter import parse_prune_filters
    chosen = parse_prune_filters(filters)
    warning = ("WARNING! This will remove all images without at least one container associated to them."
               if all_ else "WARNING! This will remove all dangling images.")
    if not force and not click.confirm(warning + "\nAre you sure you want to continue?", default=False):
        return
    echo(render_prune(engine.system.prune_images(all_images=all_, filters=chosen)))
