"""``lamina analyze IMAGE``: dive built in — per-layer changes, wasted bytes with provenance, CI mode.

Must not hold business logic (``lamina.image.analyze`` computes, ``SystemService.analyze`` reads
the verified layer blobs). ``--path`` shows which layer and instruction last wrote a path and
which earlier layers had it. ``--ci`` prints dive's rule results and exits 1 on a breach.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine
    from lamina.image.analyze import Analysis, Provenance, Thresholds
    from lamina.image.store import Image

CTX = {"help_option_names": ["-h", "--help"]}
TOP = 20


def _instruction(analysis: Analysis, index: int, width: int = 60) -> str:
    text = " ".join(analysis.layers[index].info.created_by.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _name(image: Image) -> str:
    from lamina.reference import Reference
    return Reference.parse(image.tags[0]).familiar() if image.tags else image.id.short


def render(image: Image, analysis: Analysis, *, changes: bool) -> str:
    """The human report: summary, layers, waste by instruction pair, top wasted paths."""
    from lamina.cli.humanize import human_size
    from lamina.cli.output import render_table
    layers = [{"N": str(r.index), "Size": human_size(r.size), "A": str(r.count("A")), "C": str(r.count("C")),
               "D": str(r.count("D")), "Later": human_size(r.wasted_written), "Hides": human_size(r.wasted_hidden),
               "By": _instruction(analysis, r.index)} for r in analysis.layers]
    out = [f"Image: {_name(image)} ({image.id})",
           f"  efficiency: {analysis.efficiency * 100:.4f} %",
           f"  stored bytes: {analysis.stored_bytes} ({human_size(analysis.stored_bytes)})",
           f"  wasted bytes: {analysis.wasted_bytes} ({human_size(analysis.wasted_bytes)})",
           f"  user wasted percent: {analysis.user_wasted_percent * 100:.4f} %", "", "Layers:",
           render_table(layers, [("LAYER", "N"), ("SIZE", "Size"), ("ADDED", "A"), ("MODIFIED", "C"),
                                 ("REMOVED", "D"), ("WASTED LATER", "Later"), ("HIDES", "Hides"),
                                 ("CREATED BY", "By")])]
    if changes:
        out += [_layer_changes(analysis)]
    if analysis.pairs:
        out += ["Wasted bytes by instruction (written by → hidden by):"]
        for (writer, hider), size in sorted(analysis.pairs.items(), key=lambda kv: -kv[1]):
            out.append(f"  {human_size(size):>8}  layer {writer} {_instruction(analysis, writer, 40)!r}"
                       f" → layer {hider} {_instruction(analysis, hider, 40)!r}")
        rows = [{"Count": str(p.count), "Size": human_size(p.size), "Path": p.path} for p in analysis.by_path()[:TOP]]
        out += ["", "Inefficient files (hidden copies, each counted once):",
                render_table(rows, [("COUNT", "Count"), ("WASTED SPACE", "Size"), ("FILE PATH", "Path")])]
    return "\n".join(out).rstrip("\n")


def _layer_changes(analysis: Analysis) -> str:
    from lamina.cli.humanize import human_size
    lines = []
    for report in analysis.layers:
        lines.append(f"Layer {report.index}: {_instruction(analysis, report.index, 100)}")
        lines += [f"  {c.kind} {c.path} ({human_size(c.size)})" for c in report.changes]
    return "\n".join(lines) + "\n"


def to_json(image: Image, analysis: Analysis) -> dict[str, Any]:
    """Everything, machine-readable (sizes in bytes)."""
    return {
        "image": {"id": str(image.id), "tags": list(image.tags)},
        "efficiency": analysis.efficiency, "storedBytes": analysis.stored_bytes,
        "wastedBytes": analysis.wasted_bytes, "userWastedPercent": analysis.user_wasted_percent,
        "layers": [{"index": r.index, "diffId": r.info.diff_id, "createdBy": r.info.created_by, "size": r.size,
                    "wastedLater": r.wasted_written, "hides": r.wasted_hidden,
                    "changes": [{"kind": c.kind, "path": c.path, "size": c.size} for c in r.changes]}
                   for r in analysis.layers],
        "wasted": [{"path": w.path, "size": w.size, "writer": w.writer, "hider": w.hider, "how": w.how}
                   for w in analysis.wastes],
    }


def render_provenance(image: Image, analysis: Analysis, prov: Provenance) -> str:
    from lamina.cli.humanize import human_size
    if not prov.events:
        return f"{prov.path}: not in any layer of {_name(image)}"
    lines = [f"{prov.path} in {_name(image)}: {'present' if prov.present else 'not present (removed)'}"]
    last = prov.last_writer
    if last is not None:
        lines.append(f"  last written by layer {last.layer} ({human_size(last.size)}): "
                     f"{_instruction(analysis, last.layer, 100)}")
    for e in prov.events:
        what = {"A": "added", "C": "modified", "D": "removed"}[e.kind]
        via = f" (via {e.via})" if e.via else ""
        lines.append(f"  layer {e.layer}: {what}{via} {human_size(e.size) if e.kind != 'D' else ''}".rstrip()
                     + f"  {_instruction(analysis, e.layer, 80)}")
    return "\n".join(lines)


def _rules(lowest_efficiency: float | None, highest_wasted_bytes: str | None,
           highest_user_wasted_percent: float | None) -> Thresholds:
    from lamina.cli.humanize import parse_human_size
    from lamina.image.analyze import Thresholds
    wasted = None
    if highest_wasted_bytes and highest_wasted_bytes.lower() != "disabled":
        wasted = parse_human_size(highest_wasted_bytes)
    return Thresholds(lowest_efficiency=0.9 if lowest_efficiency is None else lowest_efficiency,
                      highest_wasted_bytes=wasted,
                      highest_user_wasted_percent=0.1 if highest_user_wasted_percent is None
                      else highest_user_wasted_percent)


def _ci(analysis: Analysis, rules: Thresholds) -> bool:
    from lamina.image.analyze import breaches
    failures = breaches(analysis, rules)
    names = {"lowestEfficiency": rules.lowest_efficiency, "highestWastedBytes": rules.highest_wasted_bytes,
             "highestUserWastedPercent": rules.highest_user_wasted_percent}
    lines = ["Results:"]
    for name, value in names.items():
        failed = [f for f in failures if f.startswith(name)]
        if value is None:
            lines.append(f"  SKIP: {name}: rule disabled")
        else:
            lines.append(f"  FAIL: {failed[0]}" if failed else f"  PASS: {name}")
    skipped = sum(1 for v in names.values() if v is None)
    verdict = "FAIL" if failures else "PASS"
    lines.append(f"Result:{verdict} [Total:{len(names)}] [Passed:{len(names) - len(failures) - skipped}] "
                 f"[Failed:{len(failures)}] [Warn:0] [Skipped:{skipped}]")
    echo("\n".join(lines))
    return not failures


@click.command("analyze", context_settings=CTX)
@click.argument("image")
@click.option("--json", "as_json", is_flag=True, help="Print the full analysis as JSON")
@click.option("--changes", is_flag=True, help="List every file each layer added, modified or removed")
@click.option("--path", "path", help="Show which layer and instruction wrote PATH, and which earlier layers had it")
@click.option("--ci", is_flag=True, help="CI mode: check the thresholds and exit 1 on a breach")
@click.option("--lowest-efficiency", type=float, help="CI: fail below this efficiency (ratio, default 0.9)")
@click.option("--highest-wasted-bytes", help="CI: fail above this many wasted bytes (e.g. 10MB; default disabled)")
@click.option("--highest-user-wasted-percent", type=float,
              help="CI: fail when wasted bytes exceed this ratio of the user layers' bytes (default 0.1)")
@with_engine
def command(engine: Engine, image: str, as_json: bool, changes: bool, path: str | None, ci: bool,
            lowest_efficiency: float | None, highest_wasted_bytes: str | None,
            highest_user_wasted_percent: float | None) -> None:
    """Analyze an image's layers for wasted space (dive's efficiency, each wasted byte counted once)."""
    rules = _rules(lowest_efficiency, highest_wasted_bytes, highest_user_wasted_percent)  # bad flags fail first
    if path:
        found, analysis, prov = engine.system.provenance(image, path)
        if as_json:
            import dataclasses
            import json
            echo(json.dumps({"path": prov.path, "present": prov.present,
                             "events": [dataclasses.asdict(e) | {"createdBy": analysis.layers[e.layer].info.created_by}
                                        for e in prov.events]}))
        else:
            echo(render_provenance(found, analysis, prov))
        return
    found, analysis = engine.system.analyze(image)
    if as_json:
        import json
        echo(json.dumps(to_json(found, analysis)))
    else:
        echo(render(found, analysis, changes=changes))
    if ci and not _ci(analysis, rules):
        raise SystemExit(1)
