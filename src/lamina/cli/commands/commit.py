"""``lamina commit [-a AUTHOR] [-c CHANGE] [-m MESSAGE] [-p] CONTAINER [REPOSITORY[:TAG]]``.

Must not hold business logic. The options are ``lamina.cli.commitflags.COMMIT_FLAGS`` (one table,
which the click-free parser in ``lamina.cli.main`` reads too) and the body is ``commitflags.commit``.
Prints the new image id ("sha256:…").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from lamina.cli import commitflags
from lamina.cli.clickflags import flag_options
from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("commit", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("container")
@click.argument("repository", required=False)
@flag_options(commitflags.COMMIT_FLAGS)
@with_engine
def command(engine: Engine, container: str, repository: str | None, **opts: Any) -> None:
    """Create a new image from a container's changes."""
    commitflags.commit(engine, container, repository, opts)
