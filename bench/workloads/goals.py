"""The goals of the capability issues and how a result is judged against them.

A goal names the lamina figure (workload, metric), the peers it is compared with (the best of them,
lowest time or highest count) and the limit on the ratio lamina / best peer; or an absolute bound
(peak RSS, layer count). ``compare`` turns a list of Results into table rows. Pure functions only:
no subprocesses, no printing, so the unit tests can exercise them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workloads.core import Result

LAMINA = "lamina"
PEERS = ("podman", "docker", "buildkit", "skopeo")
FLOORS = ("crun", "crun+overlay", "gnu-tar", "sha256sum", "isal", "python")


@dataclass(frozen=True, slots=True)
class Goal:
    """``kind`` is "ratio" (lamina / best of ``peers`` ≤ limit), "max" (lamina ≤ limit, absolute)
    or "min" (lamina ≥ limit, absolute; higher is better)."""

    workload: str
    metric: str
    text: str
    limit: float
    peers: tuple[str, ...] = ()
    kind: str = "ratio"

    def matches(self, result: Result) -> bool:
        return result.workload == self.workload and result.metric.startswith(self.metric)


RSS_LIMIT_KIB = 150e6 / 1024

GOALS: tuple[Goal, ...] = (
    Goal("W1", "cold", "cold build ≤ 0.6× best peer", 0.6, ("podman", "docker", "buildkit")),
    Goal("W1", "cached", "cached build ≤ 1.0× BuildKit", 1.0, ("buildkit",)),
    Goal("W1", "one-file-changed", "one context file changed ≤ 0.6× BuildKit", 0.6, ("buildkit",)),
    Goal("W2", "run-true", "run --rm ≤ 0.5× podman", 0.5, ("podman",)),
    Goal("W3", "commit", "commit ≤ 0.5× docker", 0.5, ("docker",)),
    Goal("W4", "push", "push ≤ 0.4× skopeo", 0.4, ("skopeo",)),
    Goal("W4", "pull", "pull ≤ 0.3× docker", 0.3, ("docker",)),
    Goal("W6", "max-layers", "≥ 1,000 layers build and run", 1000, kind="min"),
    Goal("RSS", "peak-rss", "peak RSS < 150 MB", RSS_LIMIT_KIB, kind="max"),
)


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the comparison table. ``ratio`` is lamina / best peer (None without a peer);
    ``score`` is how far from the goal (≤ 1 meets it; None without a goal)."""

    workload: str
    metric: str
    unit: str
    lamina: float
    best_peer: str | None
    peer_value: float | None
    ratio: float | None
    goal: Goal | None
    score: float | None

    @property
    def verdict(self) -> str:
        if self.score is None:
            return ""
        return "meets" if self.score <= 1.0 else "MISSES"

    def as_dict(self) -> dict[str, object]:
        return {"workload": self.workload, "metric": self.metric, "unit": self.unit, "lamina": self.lamina,
                "best_peer": self.best_peer, "peer_value": self.peer_value, "ratio": self.ratio,
                "goal": self.goal.text if self.goal else None, "score": self.score, "verdict": self.verdict}


def goal_for(result: Result) -> Goal | None:
    return next((g for g in GOALS if g.matches(result)), None)


def best(results: Iterable[Result], higher_is_better: bool = False) -> Result | None:
    pool = list(results)
    if not pool:
        return None
    return max(pool, key=lambda r: r.median) if higher_is_better else min(pool, key=lambda r: r.median)


def score(goal: Goal, lamina: float, ratio: float | None) -> float | None:
    """≤ 1.0 when the goal is met; e.g. 2.0 = twice as far as allowed."""
    if goal.kind == "ratio":
        return None if ratio is None else ratio / goal.limit
    if goal.kind == "max":
        return lamina / goal.limit
    return goal.limit / lamina if lamina > 0 else float("inf")


def compare_one(mine: Result, results: Sequence[Result]) -> Row:
    goal = goal_for(mine)
    higher = goal is not None and goal.kind == "min"
    allowed = goal.peers if goal is not None and goal.peers else PEERS
    peers = [r for r in results if r.tool in allowed and r.workload == mine.workload
             and r.metric == mine.metric and r.unit == mine.unit]
    top = best(peers, higher)
    ratio = mine.median / top.median if top is not None and top.median > 0 else None
    return Row(mine.workload, mine.metric, mine.unit, mine.median, top.tool if top else None,
               top.median if top else None, ratio, goal, score(goal, mine.median, ratio) if goal else None)


def compare(results: Sequence[Result]) -> list[Row]:
    """One row per lamina result, in the order measured."""
    return [compare_one(r, results) for r in results if r.tool == LAMINA]


def worst(rows: Iterable[Row]) -> Row | None:
    """The row farthest from its goal (highest score above 1), or None when every goal is met."""
    missing = [r for r in rows if r.score is not None and r.score > 1.0]
    return max(missing, key=lambda r: r.score or 0.0) if missing else None
