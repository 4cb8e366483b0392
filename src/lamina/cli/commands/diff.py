"""``lamina diff CONTAINER`` (the rw layer's changes as docker's A/C/D lines) or ``lamina diff IMAGE IMAGE``.

Must not hold business logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("diff", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("container")
@click.argument("other_image", required=False)
@with_engine
def command(engine: Engine, container: str, other_image: str | None) -> None:
    """Inspect changes to files on a container's filesystem, or between two images (A/C/D with sizes)."""
    if other_image is not None:
        from lamina.cli.commands.image_diff import diff_images
        diff_images(engine, container, other_image)
        return
    for change in engine.containers.diff(container):
        echo(f"{change.kind.value} {change.path}")
