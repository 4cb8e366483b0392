"""``lamina container SUBCOMMAND``: the container verbs under docker's management-command names.

Must not hold business logic. ``inspect`` and ``prune`` are defined here (they have no
top-level module of their own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.app import VERBS as TOP_LEVEL
from lamina.cli.app import LazyGroup
from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine

CONTAINER_VERBS = ("run", "create", "start", "stop", "kill", "pause", "unpause", "rename", "update", "restart", "wait",
                   "rm", "logs", "exec", "top", "cp", "diff", "commit", "export")
VERBS = {
    "ls": ("ps", "List containers"),
    "list": ("ps", "List containers"),
    "ps": ("ps", "List containers"),
    **{verb: TOP_LEVEL[verb] for verb in CONTAINER_VERBS},   # same modules and help as the top-level verbs
    "remove": TOP_LEVEL["rm"],
}


class ContainerGroup(LazyGroup):
    """The lazy verbs plus ``inspect`` and ``prune``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), "inspect", "prune"]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "inspect":
            from lamina.cli.commands.inspect import inspect_command
            return inspect_command("container")
        if cmd_name == "prune":
            return prune
        return super().get_command(ctx, cmd_name)


@click.command("prune", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'until=24h', 'label=k=v')")
@with_engine
def prune(engine: Engine, force: bool, filters: tuple[str, ...]) -> None:
    """Remove all stopped containers."""
    from lamina.cli.commands.system import render_prune
    from lamina.cli.prunefilter import parse_prune_filters
    chosen = parse_prune_filters(filters)
    if not force and not click.confirm("WARNING! This will remove all stopped containers.\n"
                                       "Are you sure you want to continue?", default=False):
        return
    echo(render_prune(engine.system.prune_containers(chosen)))


@click.group("container", cls=ContainerGroup, verbs=VERBS, context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """Manage containers."""
