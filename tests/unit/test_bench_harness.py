"""The benchmark harness's pure logic: goal ratios and verdicts, --only parsing, importtime parsing,
result JSON. Timings are never asserted; nothing here runs a workload."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import run as bench_run  # noqa: E402
from workloads import goals, report, startup  # noqa: E402
from workloads.core import Context, Result, Skip, Skipped, timed  # noqa: E402


def res(workload: str, tool: str, metric: str, *samples: float, unit: str = "s") -> Result:
    return Result(workload, tool, metric, tuple(samples), unit)


def test_result_median_and_dict() -> None:
    r = res("W2", "lamina", "run-true", 3.0, 1.0, 2.0, 10.0)
    assert r.median == 2.5
    d = r.as_dict()
    assert (d["min"], d["max"], d["n"]) == (1.0, 10.0, 4)


def test_ratio_uses_best_of_goal_peers_only() -> None:
    results = [res("W1", "lamina", "cold", 1.2), res("W1", "podman", "cold", 2.0),
               res("W1", "buildkit", "cold", 3.0), res("W1", "lamina", "cached", 0.3),
               res("W1", "podman", "cached", 0.1), res("W1", "buildkit", "cached", 0.15)]
    cold, cached = goals.compare(results)
    assert cold.best_peer == "podman" and cold.ratio == pytest.approx(0.6)
    assert cold.verdict == "meets"
    # the cached goal is against BuildKit even though podman is faster here
    assert cached.best_peer == "buildkit" and cached.ratio == pytest.approx(2.0)
    assert cached.verdict == "MISSES" and cached.score == pytest.approx(2.0)


def test_metric_prefix_matches_goal_and_floors_are_not_peers() -> None:
    results = [res("W3", "lamina", "commit-100MiB", 1.0), res("W3", "docker", "commit-100MiB", 4.0),
               res("W2", "lamina", "run-true", 0.05), res("W2", "crun", "run-true", 0.01)]
    commit, run = goals.compare(results)
    assert commit.goal is not None and commit.score == pytest.approx(0.5)
    assert run.best_peer is None and run.ratio is None and run.score is None and run.verdict == ""


def test_absolute_goals_and_worst() -> None:
    results = [res("W6", "lamina", "max-layers", 1001, unit="layers"),
               res("W6", "podman", "max-layers", 128, unit="layers"),
               res("RSS", "lamina", "peak-rss-pull-1024MiB", 300_000, unit="KiB"),
               res("W2", "lamina", "run-true", 0.3), res("W2", "podman", "run-true", 0.2)]
    rows = goals.compare(results)
    depth, rss, run = rows
    assert depth.verdict == "meets" and depth.best_peer == "podman"   # higher is better
    assert rss.verdict == "MISSES"
    assert run.score == pytest.approx(3.0)
    assert goals.worst(rows) is run
    assert goals.worst([depth]) is None


def test_parse_only_orders_and_rejects_unknown() -> None:
    assert bench_run.parse_only("w4, W2") == ["w2", "w4"]
    assert bench_run.parse_only(None) == list(bench_run.ORDER)
    with pytest.raises(SystemExit, match="unknown"):
        bench_run.parse_only("w2,w9")


def test_importtime_parsing() -> None:
    stderr = ("import time: self [us] | cumulative | imported package\n"
              "import time:       100 |        100 |   _io\n"
              "import time:        50 |         50 |     encodings.aliases\n"
              "import time:       200 |       5000 |   click\n"
              "import time:      3000 |       9000 | lamina.cli.main\n")
    imports = startup.parse_importtime(stderr)
    assert [i.depth for i in imports] == [1, 2, 1, 0]
    top = startup.top_imports(imports, k=2)
    assert [i.module for i in top] == ["lamina.cli.main", "click"]


def test_timed_runs_prepare_untimed_and_counts(tmp_path: Path) -> None:
    calls: list[str] = []
    samples = timed(3, lambda: calls.append("run"), lambda: calls.append("prep"), warmup=1)
    assert len(samples) == 3 and all(s >= 0 for s in samples)
    assert calls == ["prep", "run"] * 4


def test_context_records_skips_and_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = Context(tmp_path, quick=True)
    assert ctx.reps(10, 2) == 2
    ctx.add(res("W2", "lamina", "run-true", 0.4))
    ctx.skip("W1", "lamina", str(Skip("not available yet: lamina build has no such command")))
    assert "not available yet" in capsys.readouterr().out
    assert ctx.lamina("images")[1:3] == ["--root", str(tmp_path / "lamina-root")]
    doc = report.document({}, ctx.results, ctx.skipped, goals.compare(ctx.results), {})
    loaded = json.loads(json.dumps(doc))
    assert loaded["skipped"] == [Skipped("W1", "lamina", "not available yet: lamina build has no such command")
                                 .as_dict()]
    assert loaded["comparison"][0]["metric"] == "run-true"
    assert "run --rm" in report.headline(goals.compare(ctx.results))
