"""``lamina port CONTAINER [PRIVATE_PORT[/PROTO]]``: the host addresses a running container's ports
are published on, in docker's format (``80/tcp -> 0.0.0.0:8080``).

Must not hold business logic: the mappings come from ``engine.containers.ports``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("port", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("container")
@click.argument("private_port", required=False)
@with_engine
def command(engine: Engine, container: str, private_port: str | None) -> None:
    """List port mappings or a specific mapping for the container."""
    from lamina.errors import NotFound
    record, state = engine.containers.get(container)
    mappings = engine.containers.ports(record, state)
    if private_port is None:
        for m in mappings:
            click.echo(f"{m.key} -> {m.host_ip or '0.0.0.0'}:{m.host_port}")
        return
    port, _, proto = private_port.partition("/")
    key = f"{port}/{(proto or 'tcp').lower()}"
    found = [m for m in mappings if m.key == key]
    if not found:
        raise NotFound(f"No public port '{key}' published for {record.name}")
    for m in found:
        click.echo(f"{m.host_ip or '0.0.0.0'}:{m.host_port}")
