"""``lamina push [-q] [--compression gzip|zstd] NAME[:TAG]``: prints docker's ``TAG: digest: sha256:… size: N`` line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("push", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("name")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.option("--max-concurrent-uploads", default=5, show_default=True, help="Parallel layer uploads")
@click.option("--compression", type=click.Choice(["gzip", "zstd"]),
              help="Push every layer in this compression (re-encoding the layers stored otherwise)")
@with_engine
def command(engine: Engine, name: str, quiet: bool, max_concurrent_uploads: int, compression: str | None) -> None:
    """Upload an image to a registry."""
    from lamina.cli.progress import TransferProgress
    from lamina.reference import Reference
    ref = Reference.parse(name)
    if not quiet:
        echo(f"The push refers to repository [{ref.repository}]")
    with TransferProgress(quiet=quiet) as progress:
        result = engine.distribution.push(name, progress=progress, max_concurrent=max_concurrent_uploads,
                                          compression=compression)  # type: ignore[arg-type]  # a Choice
    echo(str(ref) if quiet else result.status_line())
