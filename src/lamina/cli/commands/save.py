"""``lamina save [-o FILE] [--format docker-archive|oci-archive|oci-dir] IMAGE...``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("save", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("images", nargs=-1, required=True)
@click.option("-o", "--output", help="Write to a file (or a directory for oci-dir), instead of STDOUT")
@click.option("--format", "fmt", type=click.Choice(["docker-archive", "oci-archive", "oci-dir"]),
              default="docker-archive", show_default=True, help="Archive format")
@with_engine
def command(engine: Engine, images: tuple[str, ...], output: str | None, fmt: str) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    from lamina._internal.fsops import atomic_writer
    from lamina.errors import InvalidOption
    for name in images:  # resolve first: a bad name must not leave a partial file
        engine.images.resolve(name)
    if fmt == "oci-dir":
        if not output:
            raise InvalidOption("save --format oci-dir needs -o DIRECTORY")
        engine.images.save(images, Path(output), fmt=fmt)
        return
    if output:
        with atomic_writer(output) as f:
            engine.images.save(images, f, fmt=fmt)
        return
    if sys.stdout.isatty():
        raise InvalidOption("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    engine.images.save(images, sys.stdout.buffer, fmt=fmt)
    sys.stdout.buffer.flush()
