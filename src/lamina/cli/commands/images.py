"""``lamina images``: list images with docker's columns, -q, -a, --digests, --no-trunc, --filter, --format."""

from __future__ import annotations

import fnmatch
import time
from typing import TYPE_CHECKING, Any

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine
    from lamina.image.store import Image

HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
           "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
           "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
           "Containers": "CONTAINERS"}


def image_rows(images: list[Image], *, no_trunc: bool, digests: bool) -> list[dict[str, Any]]:
    """One row per (image, tag) as docker prints them; an untagged image is ``<none>:<none>``."""
    from lamina.cli.humanize import created_ago, human_size
    from lamina.reference import Reference
    now = time.time()
    rows = []
    for image in images:
        names = [Reference.parse(t).familiar() for t in image.tags] or ["<none>:<none>"]
        by_repo = {d.split("@")[0]: d.split("@")[1] for d in image.repo_digests}
        for name in names:
            repo, _, tag = name.rpartition(":")
            full_repo = Reference.parse(name).repository if repo != "<none>" else ""
            created_ts = _parse_created(image.created) or image.added
            rows.append({
                "Repository": repo, "Tag": tag,
                "Digest": by_repo.get(full_repo, "<none>"),
                "ID": str(image.id) if no_trunc else image.id.short,
                "CreatedSince": created_ago(created_ts, now),
                "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(created_ts)),
                "Size": human_size(image.size), "VirtualSize": human_size(image.size),
                "SharedSize": "N/A", "UniqueSize": "N/A", "Containers": "N/A",
            })
    return rows


def _parse_created(text: str | None) -> float | None:
    if not text:
        return None
    import datetime as dt
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _filter(images: list[Image], filters: tuple[str, ...]) -> list[Image]:
    from lamina.errors import InvalidOption
    from lamina.reference import Reference
    for spec in filters:
        key, _, value = spec.partition("=")
        if key == "dangling":
            want = value.lower() in ("true", "1")
            images = [i for i in images if (not i.tags) == want]
        elif key == "reference":
            images = [i for i in images if any(
                fnmatch.fnmatch(Reference.parse(t).familiar(), value) or
                fnmatch.fnmatch(Reference.parse(t).familiar().rsplit(":", 1)[0], value) for t in i.tags)]
        else:
            raise InvalidOption(f"invalid filter '{key}'")
    return images


@click.command("images", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("repository", required=False)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all images (default hides intermediate images)")
@click.option("--digests", is_flag=True, help="Show digests")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "fmt", help="Format output using a custom template ('table', 'json', or a Go template)")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@with_engine
def command(engine: Engine, repository: str | None, all_: bool, digests: bool, filters: tuple[str, ...],
            fmt: str | None, no_trunc: bool, quiet: bool) -> None:
    """List images."""
    from lamina.cli.output import format_rows
    images = _filter(engine.images.list(all_images=all_), filters)
    if repository:
        images = _filter(images, (f"reference={repository}",))
    if quiet:
        seen: dict[str, None] = {}
        for image in images:
            seen.setdefault(str(image.id) if no_trunc else image.id.short)
        for image_id in seen:
            echo(image_id)
        return
    columns = ["Repository", "Tag", *(["Digest"] if digests else []), "ID", "CreatedSince", "Size"]
    rows = image_rows(images, no_trunc=no_trunc, digests=digests)
    out = format_rows(rows, fmt, [(HEADERS[c], c) for c in columns], headers=HEADERS)
    if out:
        echo(out)
