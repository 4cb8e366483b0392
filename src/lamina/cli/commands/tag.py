"""``lamina tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("tag", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source")
@click.argument("target")
@with_engine
def command(engine: Engine, source: str, target: str) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
    engine.images.tag(source, target)
