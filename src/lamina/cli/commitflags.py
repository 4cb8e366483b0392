"""``commit``'s flags as data, their click-free parse, and the command body.

``lamina.cli.commands.commit`` builds its click options from ``COMMIT_FLAGS``; ``lamina.cli.main``
parses a plain ``commit`` with ``parse_commit`` instead (click is ~5% of committing 100 MiB).
Options may come before or after the positionals, as click and docker allow.

Must not import click or rich, and must not hold business logic.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lamina.cli.flags import FLAG, MULTI, Flag, parse

if TYPE_CHECKING:
    from lamina.engine.engine import Engine

COMMIT_FLAGS: tuple[Flag, ...] = (
    Flag(("-a", "--author"), "author", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")'),
    Flag(("-c", "--change"), "changes", MULTI, help="Apply Dockerfile instruction to the created image"),
    Flag(("-m", "--message"), "message", help="Commit message"),
    Flag(("-p", "--pause"), "pause", FLAG, default=True, help="Pause container during commit (default)"),
    Flag(("--no-pause",), "no_pause", FLAG, help="Do not pause a running container during commit"),
)


def parse_commit(args: Sequence[str]) -> tuple[dict[str, Any], str, str | None] | None:
    """``(options, CONTAINER, REPOSITORY or None)``; None when click should parse instead."""
    parsed = parse(COMMIT_FLAGS, args, interspersed=True, min_args=1, max_args=2)
    if parsed is None:
        return None
    opts, positionals = parsed
    return opts, positionals[0], positionals[1] if len(positionals) > 1 else None


def commit(engine: Engine, container: str, repository: str | None, opts: dict[str, Any]) -> int:
    """``lamina commit``: prints the new image id ("sha256:…")."""
    image = engine.containers.commit(container, repository, changes=tuple(opts["changes"]),
                                     message=opts["message"], author=opts["author"],
                                     pause=opts["pause"] and not opts["no_pause"])
    sys.stdout.write(f"{image.id}\n")
    return 0
