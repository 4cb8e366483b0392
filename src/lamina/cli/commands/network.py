"""``lamina network ls|inspect|create|rm|prune|connect|disconnect``: docker's networks, in docker's shapes.

docker's default networks (``bridge``: ``lamina0``, 10.89.0.0/16, NAT and published ports; ``host``;
``none``) and user-defined bridge networks, each with its own bridge, subnet and a DNS server for
the names of its containers (``lamina.network.networks``). ``connect``/``disconnect`` add and remove
more networks of a bridge container (``lamina.container.netconnect``); the one it was created on stays.
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
@click.option("-f", "--format", "fmt", help="Format output using a custom template")
@with_engine
def inspect(engine: Engine, names: tuple[str, ...], fmt: str | None) -> None:
    """Display detailed information on one or more networks."""
    chosen = [engine.containers.network_json(name) for name in names]
    from lamina.cli.output import render_inspect
    click.echo(render_inspect(chosen, fmt), nl=False)


@command.command("create", context_settings=CTX)
@click.argument("name")
@click.option("-d", "--driver", default="bridge", help="Driver to manage the Network (bridge)")
@click.option("--subnet", help="Subnet in CIDR format that represents a network segment")
@click.option("--gateway", help="IPv4 Gateway for the master subnet")
@click.option("--internal", is_flag=True, help="Restrict external access to the network")
@click.option("--label", "labels", multiple=True, help="Set metadata on a network")
@with_engine
def create(engine: Engine, name: str, driver: str, subnet: str | None, gateway: str | None, internal: bool,
           labels: tuple[str, ...]) -> None:
    """Create a network."""
    from lamina.errors import NotSupported
    if driver != "bridge":
        raise NotSupported(f"network driver {driver!r}: lamina has bridge networks")
    net = engine.containers.create_network(name, subnet=subnet, gateway=gateway, internal=internal,
                                           labels=dict(item.partition("=")[::2] for item in labels))
    click.echo(net.id)


@command.command("rm", context_settings=CTX)
@click.argument("names", nargs=-1, required=True)
@with_engine
def rm(engine: Engine, names: tuple[str, ...]) -> None:
    """Remove one or more networks."""
    from lamina.errors import LaminaError
    failed = None
    for name in names:
        try:
            engine.containers.remove_network(name)
            click.echo(name)
        except LaminaError as exc:   # docker goes on with the others and fails at the end
            click.echo(f"Error: {exc}", err=True)
            failed = exc
    if failed is not None:
        raise SystemExit(1)


@command.command("connect", context_settings=CTX)
@click.argument("network")
@click.argument("container")
@click.option("--alias", "aliases", multiple=True, help="Add network-scoped alias for the container")
@with_engine
def connect(engine: Engine, network: str, container: str, aliases: tuple[str, ...]) -> None:
    """Connect a container to a network."""
    engine.containers.connect_network(network, container, aliases=aliases)


@command.command("disconnect", context_settings=CTX)
@click.argument("network")
@click.argument("container")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect from a network")
@with_engine
def disconnect(engine: Engine, network: str, container: str, force: bool) -> None:
    """Disconnect a container from a network."""
    engine.containers.disconnect_network(network, container)


@command.command("prune", context_settings=CTX)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'until=24h', 'label=k=v')")
@with_engine
def prune(engine: Engine, force: bool, filters: tuple[str, ...]) -> None:
    """Remove all unused networks."""
    from lamina.cli.prunefilter import parse_prune_filters
    chosen = parse_prune_filters(filters)
    if not force and not click.confirm("WARNING! This will remove all custom networks not used by at least "
                                       "one container.\nAre you sure you want to continue?"):
        return
    removed = engine.containers.prune_networks(chosen)
    if removed:
        click.echo("Deleted Networks:\n" + "".join(f"{name}\n" for name in removed), nl=False)
