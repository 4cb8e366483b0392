"""``lamina pull [-a] [-q] [--platform P] NAME[:TAG|@DIGEST]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("pull", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("name")
@click.option("-a", "--all-tags", is_flag=True, help="Download all tagged images in the repository")
@click.option("--platform", help="Set platform if server is multi-platform capable (os/arch[/variant])")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.option("--max-concurrent-downloads", default=3, show_default=True, help="Parallel layer downloads")
@with_engine
def command(engine: Engine, name: str, all_tags: bool, platform: str | None, quiet: bool,
            max_concurrent_downloads: int) -> None:
    """Download an image from a registry."""
    from lamina.cli.progress import TransferProgress
    from lamina.reference import Reference
    ref = Reference.parse(name)
    if not quiet:
        what = "all tags for " + ref.familiar().rsplit(":", 1)[0] if all_tags else (ref.tag or "latest")
        echo(f"{what}: Pulling from {ref.remote_path.removeprefix('library/')}")
    with TransferProgress(quiet=quiet) as progress:
        images = engine.distribution.pull(name, all_tags=all_tags, platform=platform, progress=progress,
                                          max_concurrent=max_concurrent_downloads)
    for image in images:
        if quiet:
            echo(str(ref) if not all_tags else ref.repository)
            continue
        digest = next((d.split("@")[1] for d in image.repo_digests
                       if d.split("@")[0] == ref.repository), "")
        echo(f"Digest: {digest}")
        echo(f"Status: Downloaded newer image for {ref.familiar()}")
    if not quiet and not all_tags:
        echo(str(ref))
