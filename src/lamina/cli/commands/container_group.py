"""``lamina container SUBCOMMAND``: the container verbs under docker's management-command names.

Must not hold business logic. ``inspect`` and ``prune`` are defined here (they have no
top-level module of their own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.app import LazyGroup
from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine

VERBS = {
    "ls": ("ps", "List containers"),
    "list": ("ps", "List containers"),
    "ps": ("ps", "List containers"),
    "run": ("run", "Create and run a new container from an image"),
    "create": ("create", "Create a new container"),
    "start": ("start", "Start one or more stopped containers"),
    "stop": ("stop", "Stop one or more running containers"),
    "kill": ("kill", "Kill one or more running containers"),
    "pause": ("pause", "Pause all processes within one or more containers"),
    "unpause": ("unpause", "Unpause all processes within one or more containers"),
    "restart": ("restart", "Restart one or more containers"),
    "wait": ("wait", "Block until one or more containers stop, then print their exit codes"),
    "rm": ("rm", "Remove one or more containers"),
    "remove": ("rm", "Remove one or more containers"),
    "logs": ("logs", "Fetch the logs of a container"),
    "exec": ("exec_", "Execute a command in a running container"),
    "top": ("top", "Display the running processes of a container"),
    "cp": ("cp", "Copy files/folders between a container and the local filesystem"),
    "diff": ("diff", "Inspect changes to files on a container's filesystem"),
    "commit": ("commit", "Create a new image from a container's changes"),
    "export": ("export", "Export a container's filesystem as a tar archive"),
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
