"""``lamina export [-o FILE] CONTAINER``: the container's flattened filesystem as a tar.

Must not hold business logic.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("export", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("container")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file, instead of STDOUT")
@with_engine
def command(engine: Engine, container: str, output: str | None) -> None:
    """Export a container's filesystem as a tar archive."""
    from lamina.errors import InvalidOption
    if output is None:
        if sys.stdout.isatty():
            raise InvalidOption("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        engine.containers.export(container, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    from lamina._internal.fsops import atomic_writer
    with atomic_writer(output) as out:
        engine.containers.export(container, out)
