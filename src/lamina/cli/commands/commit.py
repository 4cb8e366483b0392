"""``lamina commit [-a AUTHOR] [-c CHANGE] [-m MESSAGE] [-p] CONTAINER [REPOSITORY[:TAG]]``.

Must not hold business logic. Prints the new image id ("sha256:…").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("commit", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("container")
@click.argument("repository", required=False)
@click.option("-a", "--author", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
@click.option("-c", "--change", "changes", multiple=True, help="Apply Dockerfile instruction to the created image")
@click.option("-m", "--message", help="Commit message")
@click.option("-p", "--pause", is_flag=True, default=True, help="Pause container during commit (default)")
@click.option("--no-pause", is_flag=True, help="Do not pause a running container during commit")
@with_engine
def command(engine: Engine, container: str, repository: str | None, author: str | None,
            changes: tuple[str, ...], message: str | None, pause: bool, no_pause: bool) -> None:
    """Create a new image from a container's changes."""
    image = engine.containers.commit(container, repository, changes=changes, message=message, author=author,
                                     pause=pause and not no_pause)
    echo(str(image.id))
