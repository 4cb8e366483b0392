"""``lamina network ls|inspect|create|rm``: the three networks lamina has, with docker's output shapes.

lamina has docker's default networks: ``bridge`` (``lamina0``, 10.89.0.0/16, NAT and published ports),
``host`` and ``none``; ``create`` and ``rm`` of user-defined networks are refused with that said.
Must not hold business logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine

CTX = {"help_option_names": ["-h", "--help"]}
HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE"}


@click.group("network", context_settings=CTX)
def command() -> None:
    """Manage networks."""


@command.command("ls", context_settings=CTX)
@click.option("--format", "fmt", help="Format output using a custom template")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output")
@with_engine
def ls(engine: Engine, fmt: str | None, quiet: bool, no_trunc: bool) -> None:
    """List networks."""
    from lamina.cli.output import format_rows
    rows = [{"ID": n["Id"] if no_trunc else n["Id"][:12], "Name": n["Name"], "Driver": n["Driver"],
             "Scope": n["Scope"]} for n in engine.containers.networks()]
    columns = [(HEADERS[c], c) for c in ("ID", "Name", "Driver", "Scope")]
    out = format_rows(rows, fmt, columns, quiet_key="ID" if quiet else None, headers=HEADERS)
    click.echo(out, nl=False)


@command.command("inspect", context_settings=CTX)
@click.argument("names", nargs=-1, required=True)
@with_engine
def inspect(engine: Engine, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more networks."""
    from lamina.errors import NotFound
    known = {n["Name"]: n for n in engine.containers.networks()}
    known.update({n["Id"][:12]: n for n in list(known.values())})
    missing = [name for name in names if name not in known]
    if missing:
        raise NotFound(f"network {missing[0]} not found")
    from lamina.cli.output import render_json
    click.echo(render_json([known[name] for name in names]), nl=False)


@command.command("create", context_settings=CTX)
@click.argument("name")
def create(name: str) -> None:
    """Create a network (not supported: lamina has bridge, host and none)."""
    from lamina.errors import NotSupported
    raise NotSupported(f"network create {name}: user-defined networks are not supported "
                       "(lamina has bridge, host and none)")


@command.command("rm", context_settings=CTX)
@click.argument("names", nargs=-1, required=True)
def rm(names: tuple[str, ...]) -> None:
    """Remove networks (the built-in ones cannot be removed)."""
    from lamina.errors import InvalidArgument
    raise InvalidArgument(f"{names[0]} is a pre-defined network and cannot be removed")
