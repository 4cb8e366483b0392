"""``lamina import FILE|URL|- [REPOSITORY[:TAG]]``: a rootfs tarball becomes a one-layer image."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("import", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source")
@click.argument("reference", required=False)
@click.option("-c", "--change", "changes", multiple=True, help="Apply Dockerfile instruction to the created image")
@click.option("-m", "--message", help="Set commit message for imported image")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output")
@with_engine
def command(engine: Engine, source: str, reference: str | None, changes: tuple[str, ...],
            message: str | None, quiet: bool) -> None:
    """Import the contents from a tarball (plain, gzip or zstd; '-' reads stdin) to create an image."""
    from lamina.errors import PathNotFound
    if source == "-":
        image = engine.images.import_tarball(sys.stdin.buffer, source_name="-", reference=reference,
                                             changes=changes, message=message)
    else:
        try:
            f = open(source, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError as exc:
            raise PathNotFound(source, f"import {source}: no such file or directory") from exc
        with f:
            image = engine.images.import_tarball(f, source_name=source, reference=reference,
                                                 changes=changes, message=message)
    echo(str(image.id))
