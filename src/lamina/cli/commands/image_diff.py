"""``lamina image diff IMAGE IMAGE``: docker diff's A/C/D lines between two images, with sizes.

Must not hold business logic (``SystemService.image_diff``). ``lamina diff`` with two image
names should dispatch here (see ``diff_images``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


def diff_images(engine: Engine, first: str, second: str, *, fmt: str | None = None, sizes: bool = True) -> None:
    """Print the changes from image *first* to image *second* (shared by ``lamina diff A B``)."""
    from lamina.cli.humanize import human_size
    changes = engine.system.image_diff(first, second)
    if fmt == "json":
        import json
        echo(json.dumps([{"Kind": c.kind, "Path": c.path, "Before": c.before, "After": c.after} for c in changes]))
        return
    for c in changes:
        if not sizes:
            echo(f"{c.kind} {c.path}")
        elif c.kind == "A":
            echo(f"A {c.path} (+{human_size(c.after)})")
        elif c.kind == "D":
            echo(f"D {c.path} (-{human_size(c.before)})")
        else:
            echo(f"C {c.path} ({human_size(c.before)} -> {human_size(c.after)})")


@click.command("diff", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("first")
@click.argument("second")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", help="Output format")
@click.option("--no-size", is_flag=True, help="Print docker diff's plain 'K /path' lines")
@with_engine
def command(engine: Engine, first: str, second: str, fmt: str, no_size: bool) -> None:
    """Show the files added (A), changed (C) and deleted (D) from image FIRST to image SECOND."""
    diff_images(engine, first, second, fmt=fmt if fmt == "json" else None, sizes=not no_size)
