"""``lamina update [OPTIONS] CONTAINER...``: change limits and the restart policy of containers.

docker's flags; a running container's cgroups change at once (``crun update``), and the record and
bundle keep the new values for later starts. Prints each container as given, as docker does.
Must not hold business logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("update", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("containers", nargs=-1, required=True)
@click.option("-m", "--memory", help="Memory limit")
@click.option("--memory-swap", help="Swap limit equal to memory plus swap: -1 to enable unlimited swap")
@click.option("--memory-reservation", help="Memory soft limit")
@click.option("--cpus", type=float, help="Number of CPUs")
@click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
@click.option("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
@click.option("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)")
@click.option("--restart", help="Restart policy to apply when a container exits")
@with_engine
def command(engine: Engine, containers: tuple[str, ...], **flags: Any) -> None:
    """Update configuration of one or more containers."""
    from lamina.errors import InvalidOption, LaminaError
    changes = _changes(flags)
    if not changes:
        raise InvalidOption("you must provide one or more flags when using this command")
    failed = False
    for name in containers:
        try:
            engine.containers.update(name, **changes)
            click.echo(name)
        except LaminaError as exc:   # docker goes on with the others and fails at the end
            click.echo(f"Error: {exc}", err=True)
            failed = True
    if failed:
        raise SystemExit(1)


def _changes(flags: dict[str, Any]) -> dict[str, Any]:
    from lamina.cli.humanize import parse_size
    changes: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
    for key in ("memory", "memory_reservation"):
        if key in changes:
            changes[key] = parse_size(changes[key])
    if "memory_swap" in changes:
        changes["memory_swap"] = -1 if changes["memory_swap"].strip() == "-1" else parse_size(changes["memory_swap"])
    if "restart" in changes:
        from lamina.container.monitor import parse_restart
        parse_restart(changes["restart"])
    return changes
