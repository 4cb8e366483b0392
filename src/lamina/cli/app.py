"""The ``lamina`` click group: global flags and lazy verb loading.

Must not contain business logic: verbs live in ``lamina.cli.commands.<verb>`` and are imported
only when run, so ``lamina --version`` and ``lamina images`` stay fast. ``lamina.cli.main`` is the
entry point; it imports this module only for commands its click-free ``run`` parser leaves.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from lamina import __version__
from lamina.cli.main import LOG_LEVELS

# verb -> (module under lamina.cli.commands, short help). Order is the help listing order.
VERBS: dict[str, tuple[str, str]] = {
    "images": ("images", "List images"),
    "image": ("image_group", "Manage images (ls, rm, inspect, history, tag, import, save, load, prune)"),
    "import": ("import_", "Import the contents from a tarball to create a filesystem image"),
    "history": ("history", "Show the history of an image"),
    "inspect": ("inspect", "Return low-level information on lamina objects"),
    "tag": ("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "rmi": ("rmi", "Remove one or more images"),
    "save": ("save", "Save one or more images to a tar archive"),
    "load": ("load", "Load an image from a tar archive or an OCI layout"),
    "pull": ("pull", "Download an image from a registry"),
    "push": ("push", "Upload an image to a registry"),
    "login": ("login", "Log in to a registry"),
    "logout": ("logout", "Log out from a registry"),
    "build": ("build", "Build an image from a Dockerfile"),
    "builder": ("builder", "Manage builds (prune)"),
    "run": ("run", "Create and run a new container from an image"),
    "create": ("create", "Create a new container"),
    "start": ("start", "Start one or more stopped containers"),
    "stop": ("stop", "Stop one or more running containers"),
    "kill": ("kill", "Kill one or more running containers"),
    "pause": ("pause", "Pause all processes within one or more containers"),
    "unpause": ("unpause", "Unpause all processes within one or more containers"),
    "rename": ("rename", "Rename a container"),
    "update": ("update", "Update configuration of one or more containers"),
    "port": ("port", "List port mappings or a specific mapping for the container"),
    "attach": ("attach", "Attach local standard input, output, and error streams to a running container"),
    "restart": ("restart", "Restart one or more containers"),
    "wait": ("wait", "Block until one or more containers stop, then print their exit codes"),
    "rm": ("rm", "Remove one or more containers"),
    "ps": ("ps", "List containers"),
    "logs": ("logs", "Fetch the logs of a container"),
    "exec": ("exec_", "Execute a command in a running container"),
    "top": ("top", "Display the running processes of a container"),
    "stats": ("stats", "Display a live stream of container(s) resource usage statistics"),
    "cp": ("cp", "Copy files/folders between a container and the local filesystem"),
    "diff": ("diff", "Inspect changes to files on a container's filesystem"),
    "commit": ("commit", "Create a new image from a container's changes"),
    "export": ("export", "Export a container's filesystem as a tar archive"),
    "container": ("container_group", "Manage containers"),
    "volume": ("volume", "Manage volumes"),
    "network": ("network", "Manage networks"),
    "system": ("system", "Manage lamina (df, check, prune)"),
    "info": ("info", "Display system-wide information"),
    "events": ("events", "Get real time events from lamina"),
    "version": ("version", "Show the lamina version information"),
    "analyze": ("analyze", "Analyze an image's layers for wasted space"),
}


def _module_exists(module: str) -> bool:
    from importlib.util import find_spec
    return find_spec(f"lamina.cli.commands.{module}") is not None


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when invoked (each module defines ``command``)."""

    def __init__(self, *args: Any, verbs: dict[str, tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.verbs = verbs or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [v for v, (mod, _) in self.verbs.items() if _module_exists(mod)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self.verbs.get(cmd_name)
        if entry is None or not _module_exists(entry[0]):
            return None
        module = importlib.import_module(f"lamina.cli.commands.{entry[0]}")
        command: click.Command = module.command
        return command

    def _short_help(self, ctx: click.Context, name: str) -> str:
        """Help of a verb a subclass defines itself (``container inspect``)."""
        command = self.get_command(ctx, name)
        return command.get_short_help_str() if command is not None else ""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(v, self.verbs[v][1] if v in self.verbs else self._short_help(ctx, v)) for v in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, verbs=VERBS, context_settings={"help_option_names": ["-h", "--help"]},
             invoke_without_command=False)
@click.option("--root", envvar="LAMINA_ROOT", metavar="DIR",
              help="Root of lamina's storage (default /var/lib/lamina, env LAMINA_ROOT).")
@click.option("--storage-driver", "storage_driver", metavar="NAME",
              help="Storage driver: auto, overlay, copy (env LAMINA_STORAGE_DRIVER).")
@click.option("-l", "--log-level", default="warning",
              type=click.Choice(LOG_LEVELS), help="Logging level.")
@click.option("-D", "--debug", is_flag=True, help="Enable debug output.")
@click.version_option(__version__, "-v", "--version", prog_name="lamina",
                      message="lamina version %(version)s")
@click.pass_context
def cli(ctx: click.Context, root: str | None, storage_driver: str | None, log_level: str,
        debug: bool) -> None:
    """A daemonless container engine: layered images, overlay storage, crun containers."""
    from lamina.cli.main import configure_logging
    configure_logging(log_level, debug)
    ctx.obj = {"root": root, "storage_driver": storage_driver, "debug": debug}
