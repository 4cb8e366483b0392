"""``lamina load [-i FILE|DIR] [-q]``: docker-archive, oci-archive (tar, gz, zstd) or OCI layout dir."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("load", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-i", "--input", "input_", help="Read from tar archive file or OCI layout dir, instead of STDIN")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output")
@with_engine
def command(engine: Engine, input_: str | None, quiet: bool) -> None:
    """Load an image from a tar archive or STDIN."""
    from lamina.errors import InvalidOption
    from lamina.image.archive import open_source
    from lamina.reference import Reference
    if input_ is None:
        if sys.stdin.isatty():
            raise InvalidOption("requested load from stdin, but stdin is empty")
        loaded = engine.images.load(sys.stdin.buffer)
    else:
        source = open_source(input_)
        try:
            loaded = engine.images.load(source)
        finally:
            if not isinstance(source, type(None)) and hasattr(source, "close"):
                source.close()
    if quiet:
        return
    for image, names in loaded:
        if names:
            for name in names:
                echo(f"Loaded image: {Reference.parse(name).familiar()}")
        else:
            echo(f"Loaded image ID: {image.id}")
