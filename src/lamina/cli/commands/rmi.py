"""``lamina rmi [-f] IMAGE...``: untag and delete images (docker's rules; in-use images are kept)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("rmi", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("images", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Force removal of the image")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents")
@with_engine
def command(engine: Engine, images: tuple[str, ...], force: bool, no_prune: bool) -> None:
    """Remove one or more images."""
    from lamina.errors import LaminaError
    failed = None
    for name in images:
        try:
            for line in engine.images.remove(name, force=force, in_use=engine.image_user):
                echo(line)
        except LaminaError as exc:
            echo(f"Error: {exc}", err=True)
            failed = exc
    if failed is not None:
        raise SystemExit(1)

