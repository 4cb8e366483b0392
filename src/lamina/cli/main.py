"""The ``lamina`` root command: global flags, lazy verb loading, logging, error → exit code.

The only place (with the API error middleware) that catches ``Exception``. Must not contain
business logic: verbs live in ``lamina.cli.commands.<verb>`` and are imported only when run,
so ``lamina --version`` and ``lamina images`` stay fast (start-up is on every command's path).

Exit codes follow docker: 0 on success; 1 when a command fails; ``run``/``create``/``start``
exit 125 for engine errors, 126 when the command cannot be invoked, 127 when it is not found,
else the container's own status.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from typing import Any

import click

from lamina import __version__

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
    "restart": ("restart", "Restart one or more containers"),
    "wait": ("wait", "Block until one or more containers stop, then print their exit codes"),
    "rm": ("rm", "Remove one or more containers"),
    "ps": ("ps", "List containers"),
    "logs": ("logs", "Fetch the logs of a container"),
    "exec": ("exec_", "Execute a command in a running container"),
    "top": ("top", "Display the running processes of a container"),
    "cp": ("cp", "Copy files/folders between a container and the local filesystem"),
    "diff": ("diff", "Inspect changes to files on a container's filesystem"),
    "commit": ("commit", "Create a new image from a container's changes"),
    "export": ("export", "Export a container's filesystem as a tar archive"),
    "container": ("container_group", "Manage containers"),
    "volume": ("volume", "Manage volumes"),
    "system": ("system", "Manage lamina (df, check, prune)"),
    "info": ("info", "Display system-wide information"),
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

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(v, self.verbs[v][1]) for v in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, verbs=VERBS, context_settings={"help_option_names": ["-h", "--help"]},
             invoke_without_command=False)
@click.option("--root", envvar="LAMINA_ROOT", metavar="DIR",
              help="Root of lamina's storage (default /var/lib/lamina, env LAMINA_ROOT).")
@click.option("--storage-driver", "storage_driver", metavar="NAME",
              help="Storage driver: auto, overlay, copy (env LAMINA_STORAGE_DRIVER).")
@click.option("-l", "--log-level", default="warning",
              type=click.Choice(["debug", "info", "warning", "error", "fatal"]), help="Logging level.")
@click.option("-D", "--debug", is_flag=True, help="Enable debug output.")
@click.version_option(__version__, "-v", "--version", prog_name="lamina",
                      message="lamina version %(version)s")
@click.pass_context
def cli(ctx: click.Context, root: str | None, storage_driver: str | None, log_level: str,
        debug: bool) -> None:
    """A daemonless container engine: layered images, overlay storage, crun containers."""
    level = logging.DEBUG if debug else getattr(logging, log_level.upper().replace("FATAL", "CRITICAL"))
    logging.basicConfig(level=level, format="%(levelname)s[%(name)s] %(message)s", stream=sys.stderr)
    ctx.obj = {"root": root, "storage_driver": storage_driver, "debug": debug}


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map lamina errors to docker's exit codes."""
    from lamina.errors import ContainerCommandError, InternalError, LaminaError
    try:
        cli.main(args=argv, prog_name="lamina", standalone_mode=False)
    except SystemExit as exc:  # run/start/wait end with the container's status
        if exc.code is None or isinstance(exc.code, int):
            _fast_exit(exc.code or 0)
        raise
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        exc.show()
        sys.exit(125)  # docker: flag and usage errors exit 125
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except ContainerCommandError as exc:
        click.echo(f"lamina: {exc}", err=True)
        sys.exit(exc.exit_code)
    except InternalError as exc:
        traceback.print_exc()
        click.echo(f"Error: internal error (a bug in lamina): {exc}", err=True)
        sys.exit(125 if _is_run_verb() else 1)
    except LaminaError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(125 if _is_run_verb() else 1)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: show where, exit like docker
        traceback.print_exc()
        click.echo(f"Error: internal error (a bug in lamina): {exc!r}", err=True)
        sys.exit(125 if _is_run_verb() else 1)
    _fast_exit()


def _fast_exit(code: int = 0) -> None:
    """Exit with *code* without the interpreter's teardown (~40 ms of module and object finalisation).

    Everything that matters is already done: the Engine was closed by click's context, output
    is flushed here, logging handlers are flushed by ``logging.shutdown``.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    logging.shutdown()
    os._exit(code)


_state = {"engine_error_exit": 1}


def engine_errors_exit(code: int) -> None:
    """Called by run/create/start/exec: engine errors then exit *code* (docker: 125) instead of 1."""
    _state["engine_error_exit"] = code


def _is_run_verb() -> bool:
    return _state["engine_error_exit"] == 125
