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
@with_engine
def prune(engine: Engine, force: bool) -> None:
    """Remove all stopped containers."""
    from lamina.cli.humanize import human_size
    if not force and not click.confirm("WARNING! This will remove all stopped containers.\n"
                                       "Are you sure you want to continue?", default=False):
        return
    deleted, reclaimed = [], 0
    for container, state in engine.containers.list():
        if not state.running:
            reclaimed += engine.containers.size(container)
            engine.containers.remove(container.id)
            deleted.append(container.id)
    if deleted:
        echo("Deleted Containers:\n" + "\n".join(deleted) + "\n")
    echo(f"Total reclaimed space: {human_size(reclaimed)}")


@click.group("container", cls=ContainerGroup, verbs=VERBS, context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """Manage containers."""
