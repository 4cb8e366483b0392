"""Rendering: the comparison rows as a plain-text (markdown) table, and the JSON document of a run.

Pure formatting; no measuring, no subprocesses.
"""

from __future__ import annotations

from collections.abc import Sequence

from workloads.core import Result, Skipped, fmt
from workloads.goals import Row


def ratio_text(row: Row) -> str:
    return "—" if row.ratio is None else f"{row.ratio:.2f}×"


def table(rows: Sequence[Row]) -> str:
    lines = ["| workload | metric | lamina | best peer | peer | lamina / peer | goal | verdict |",
             "| --- | --- | ---: | --- | ---: | ---: | --- | --- |"]
    for r in rows:
        peer = "—" if r.peer_value is None else fmt(r.peer_value, r.unit)
        lines.append(f"| {r.workload} | {r.metric} | {fmt(r.lamina, r.unit)} | {r.best_peer or '—'} | {peer} | "
                     f"{ratio_text(r)} | {r.goal.text if r.goal else ''} | {r.verdict} |")
    return "\n".join(lines)


def all_results(results: Sequence[Result]) -> str:
    lines = ["| workload | tool | metric | median | min | max | n | note |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        lines.append(f"| {r.workload} | {r.tool} | {r.metric} | {fmt(r.median, r.unit)} | "
                     f"{fmt(min(r.samples), r.unit)} | {fmt(max(r.samples), r.unit)} | {len(r.samples)} | {r.note} |")
    return "\n".join(lines)


def headline(rows: Sequence[Row]) -> str:
    """The short block for the README: one line per goal (absolute goals: the worst figure)."""
    out, seen = [], set()
    for row in rows:
        goal = row.goal
        if goal is None or goal.text in seen:
            continue
        same = [x for x in rows if x.goal == goal]
        r = max(same, key=lambda x: x.score or 0.0) if goal.kind == "max" else row
        seen.add(goal.text)
        verdict = r.verdict or "no peer figure in this run"
        if r.ratio is not None:
            out.append(f"- {goal.text}: **{r.ratio:.2f}×** {r.best_peer} "
                       f"({fmt(r.lamina, r.unit)} vs {fmt(r.peer_value or 0.0, r.unit)}) — {verdict}")
        else:
            out.append(f"- {goal.text}: **{fmt(r.lamina, r.unit)}** (worst: {r.metric}) — {verdict}")
    return "\n".join(out)


def document(meta: dict[str, object], results: Sequence[Result], skipped: Sequence[Skipped],
             rows: Sequence[Row], facts: dict[str, object]) -> dict[str, object]:
    return {"meta": meta, "results": [r.as_dict() for r in results], "skipped": [s.as_dict() for s in skipped],
            "comparison": [r.as_dict() for r in rows], "facts": facts}
