"""``lamina system df|check|prune``: disk usage in docker's layout, fsck/repair, and prune.

Must not hold business logic (``lamina.engine.system`` has it); this module renders.
Exit codes: ``check`` exits 1 when damage is found (orphans alone exit 0), ``check --repair``
exits 1 when damage is left after repairing; ``prune`` exits 0 unless an error is raised.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine
    from lamina.engine.system import CheckReport, DiskUsage, PruneReport

CTX = {"help_option_names": ["-h", "--help"]}
SUMMARY_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
                   "Reclaimable": "RECLAIMABLE"}
IMAGE_COLUMNS = [("REPOSITORY", "Repository"), ("TAG", "Tag"), ("IMAGE ID", "ID"), ("CREATED", "CreatedSince"),
                 ("SIZE", "Size"), ("SHARED SIZE", "SharedSize"), ("UNIQUE SIZE", "UniqueSize"),
                 ("CONTAINERS", "Containers")]
CONTAINER_COLUMNS = [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"),
                     ("LOCAL VOLUMES", "LocalVolumes"), ("SIZE", "Size"), ("CREATED", "RunningFor"),
                     ("STATUS", "Status"), ("NAMES", "Names")]
VOLUME_COLUMNS = [("VOLUME NAME", "Name"), ("LINKS", "Links"), ("SIZE", "Size")]
CACHE_COLUMNS = [("CACHE ID", "ID"), ("CACHE TYPE", "CacheType"), ("SIZE", "Size"), ("CREATED", "CreatedSince"),
                 ("LAST USED", "LastUsedSince"), ("USAGE", "UsageCount"), ("SHARED", "Shared")]


@click.group("system", context_settings=CTX)
def command() -> None:
    """Manage lamina (df, check, prune)."""


# ---------------------------------------------------------------------- df
def _with_percent(reclaimable: int, total: int) -> str:
    from lamina.cli.humanize import human_size
    text = human_size(reclaimable, 4)
    return f"{text} ({reclaimable * 100 // total}%)" if total > 0 else text


def summary_rows(du: DiskUsage) -> list[dict[str, Any]]:
    """docker's four rows: Images, Containers, Local Volumes, Build Cache."""
    from lamina.cli.humanize import human_size
    c_total = sum(c.size for c in du.containers)
    c_free = sum(c.size for c in du.containers if not c.running)
    v_total = sum(v.size for v in du.volumes)
    v_free = sum(v.size for v in du.volumes if not v.links)
    cache = du.build_cache
    return [
        {"Type": "Images", "TotalCount": str(len(du.images)), "Active": str(du.active_images),
         "Size": human_size(du.images_total, 4), "Reclaimable": _with_percent(du.images_reclaimable, du.images_total)},
        {"Type": "Containers", "TotalCount": str(len(du.containers)),
         "Active": str(sum(1 for c in du.containers if c.running)), "Size": human_size(c_total, 4),
         "Reclaimable": _with_percent(c_free, c_total)},
        {"Type": "Local Volumes", "TotalCount": str(len(du.volumes)),
         "Active": str(sum(1 for v in du.volumes if v.links)), "Size": human_size(v_total, 4),
         "Reclaimable": _with_percent(v_free, v_total)},
        {"Type": "Build Cache", "TotalCount": str(cache.count), "Active": str(cache.active),
         "Size": human_size(cache.size, 4), "Reclaimable": human_size(cache.reclaimable, 4)},
    ]


def image_rows(du: DiskUsage) -> list[dict[str, Any]]:
    from lamina.cli.commands.images import image_rows as listing
    from lamina.cli.humanize import human_size
    rows = []
    for usage in du.images:
        for row in listing([usage.image], no_trunc=False, digests=False):
            row.update(Size=human_size(usage.size), SharedSize=human_size(usage.shared),
                       UniqueSize=human_size(usage.unique), Containers=str(usage.containers))
            rows.append(row)
    return rows


def container_rows(du: DiskUsage) -> list[dict[str, Any]]:
    from lamina.cli.commands.ps import status_text
    from lamina.cli.humanize import created_ago, human_size, parse_timestamp
    now = time.time()
    rows = []
    for c in du.containers:
        command = f'"{c.command}"'
        rows.append({"ID": c.id[:12], "Image": c.image, "Names": c.name, "LocalVolumes": str(c.volumes),
                     "Command": command if len(command) <= 20 else command[:19] + "…",
                     "Size": human_size(c.size), "RunningFor": created_ago(parse_timestamp(c.created), now),
                     "Status": status_text(c.state, now) if c.state else c.status})
    return rows


def volume_rows(du: DiskUsage) -> list[dict[str, Any]]:
    from lamina.cli.humanize import human_size
    return [{"Name": v.name, "Links": str(v.links), "Size": human_size(v.size, 4)} for v in du.volumes]


def _verbose(du: DiskUsage) -> str:
    from lamina.cli.humanize import human_size
    from lamina.cli.output import render_table
    parts = ["Images space usage:\n\n" + render_table(image_rows(du), IMAGE_COLUMNS),
             "Containers space usage:\n\n" + render_table(container_rows(du), CONTAINER_COLUMNS),
             "Local Volumes space usage:\n\n" + render_table(volume_rows(du), VOLUME_COLUMNS),
             f"Build cache usage: {human_size(du.build_cache.size, 4)}\n\n"
             + render_table(list(du.build_cache.entries), CACHE_COLUMNS)]
    return "\n".join(parts)


def _verbose_json(du: DiskUsage) -> str:
    import json
    return json.dumps({"Images": image_rows(du), "Containers": container_rows(du), "Volumes": volume_rows(du),
                       "BuildCache": list(du.build_cache.entries)})


@command.command("df", context_settings=CTX)
@click.option("-v", "--verbose", is_flag=True, help="Show detailed information on space usage")
@click.option("--format", "fmt", help="Format output using a custom template ('table', 'json', or a Go template)")
@with_engine
def df(engine: Engine, verbose: bool, fmt: str | None) -> None:
    """Show lamina disk usage."""
    from lamina.cli.output import format_rows
    from lamina.errors import InvalidOption
    du = engine.system.df()
    if verbose:
        if fmt and fmt != "json":
            raise InvalidOption("system df: --format with --verbose supports only json")
        echo(_verbose_json(du) if fmt else _verbose(du).rstrip("\n"))
        return
    columns = [(header, key) for key, header in SUMMARY_HEADERS.items()]
    out = format_rows(summary_rows(du), fmt, columns, headers=SUMMARY_HEADERS)
    if out:
        echo(out.rstrip("\n"))


# ---------------------------------------------------------------------- check
def _render_check(report: CheckReport, repair: bool) -> str:
    lines = []
    for p in report.problems:
        tag = "DAMAGE" if p.damage else "orphan"
        lines.append(f"{tag:7} {p.kind:24} {p.subject}: {p.detail}")
    counts = ", ".join(f"{n} {k}" for k, n in sorted(report.counts.items()))
    damage = sum(1 for p in report.problems if p.damage)
    orphans = len(report.problems) - damage
    lines.append(f"checked {counts}: {damage} damaged, {orphans} orphaned")
    if repair:
        lines += [f"repaired: {a}" for a in report.repaired]
        if report.reload:
            lines.append("these images were removed and must be pulled or loaded again: "
                         + ", ".join(report.reload))
        lines += [f"NOT REPAIRED {p.kind} {p.subject}: {p.detail}" for p in report.unrepaired]
    return "\n".join(lines)


@command.command("check", context_settings=CTX)
@click.option("--repair", is_flag=True, help="Remove what is damaged or orphaned (never without this flag)")
@click.option("--quick", is_flag=True, help="Skip re-reading layer contents (blobs are still verified)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", help="Output format")
@with_engine
def check(engine: Engine, repair: bool, quick: bool, fmt: str) -> None:
    """Verify blobs, layers, references and containers; report damage and orphans."""
    report = engine.system.check(repair=repair, verify_content=not quick)
    if fmt == "json":
        import dataclasses
        import json
        echo(json.dumps({"problems": [dataclasses.asdict(p) for p in report.problems], "counts": report.counts,
                         "repaired": list(report.repaired), "reload": list(report.reload),
                         "unrepaired": [dataclasses.asdict(p) for p in report.unrepaired],
                         "damaged": report.damaged}))
    else:
        echo(_render_check(report, repair))
    failed = [p for p in report.unrepaired if p.damage] if repair else [p for p in report.problems if p.damage]
    if failed:
        raise SystemExit(1)


# ---------------------------------------------------------------------- prune
def render_prune(report: PruneReport) -> str:
    """docker's prune output: the sections that removed something, then the reclaimed space."""
    from lamina.cli.humanize import human_size
    sections = [("Deleted Containers:", report.containers), ("Deleted Networks:", report.networks),
                ("Deleted Volumes:", report.volumes),
                ("Deleted Images:", report.images), ("Deleted build cache objects:", report.build_cache)]
    out = "".join(f"{title}\n" + "".join(f"{line}\n" for line in lines) + "\n" for title, lines in sections if lines)
    return out + f"Total reclaimed space: {human_size(report.reclaimed)}"


_PRUNE_WARNING = ("WARNING! This will remove:\n  - all stopped containers\n"
                  "  - all networks not used by at least one container\n{volumes}{images}"
                  "  - unused build cache\n\nAre you sure you want to continue?")


@command.command("prune", context_settings=CTX)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images not just dangling ones")
@click.option("--volumes", is_flag=True, help="Prune anonymous volumes")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'until=24h', 'label=k=v')")
@with_engine
def prune(engine: Engine, all_: bool, volumes: bool, force: bool, filters: tuple[str, ...]) -> None:
    """Remove unused data."""
    from lamina.cli.prunefilter import parse_prune_filters
    chosen = parse_prune_filters(filters)
    images = "  - all images without at least one container associated to them\n" if all_ \
        else "  - all dangling images\n"
    warning = _PRUNE_WARNING.format(volumes="  - all anonymous volumes not used by at least one container\n"
                                    if volumes else "", images=images)
    if not force and not click.confirm(warning, default=False):
        return
    echo(render_prune(engine.system.prune(all_images=all_, volumes=volumes, filters=chosen)))
