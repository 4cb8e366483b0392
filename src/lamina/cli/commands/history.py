"""``lamina history IMAGE``: one row per history entry, newest first, with layer sizes."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine
    from lamina.engine.images import HistoryRow

HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
           "Size": "SIZE", "Comment": "COMMENT"}


def history_rows(rows: list[HistoryRow], *, human: bool, no_trunc: bool) -> list[dict[str, Any]]:
    from lamina.cli.commands.images import _parse_created
    from lamina.cli.humanize import created_ago, human_size
    now = time.time()
    out = []
    for row in rows:
        created = _parse_created(row.created)
        created_by = row.created_by.replace("\t", " ").replace("\n", " ")
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        image_id = "<missing>" if row.image_id is None else (row.image_id if no_trunc else row.image_id[7:19])
        out.append({
            "ID": image_id,
            "CreatedSince": created_ago(created, now) if created and human else (row.created or ""),
            "CreatedAt": row.created or "",
            "CreatedBy": created_by,
            "Size": human_size(row.size) if human else str(row.size),
            "Comment": row.comment,
        })
    return out


@click.command("history", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("image")
@click.option("--format", "fmt", help="Format output using a custom template")
@click.option("-H", "--human", type=bool, default=True, show_default=True,
              help="Print sizes and dates in human readable format")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@with_engine
def command(engine: Engine, image: str, fmt: str | None, human: bool, no_trunc: bool, quiet: bool) -> None:
    """Show the history of an image."""
    from lamina.cli.output import format_rows
    rows = history_rows(engine.images.history(image), human=human, no_trunc=no_trunc)
    if quiet:
        for row in rows:
            echo(row["ID"])
        return
    columns = ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"]
    out = format_rows(rows, fmt, [(HEADERS[c], c) for c in columns], headers=HEADERS)
    if out:
        echo(out)
