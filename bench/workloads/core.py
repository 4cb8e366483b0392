"""Shared harness pieces: samples and their statistics, timed subprocesses, the run context.

Every workload module measures with these helpers so lamina and the peers are timed the same way
(a Python ``perf_counter`` around ``subprocess.run``, median of n). Nothing here knows a workload.
It must not assert on timings and must not be imported by lamina itself.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEERS_DIR = REPO.parent / "shared" / "peers"
ANCHORS = Path(os.environ.get("ANCHORS", "/var/tmp/anchors"))
BASE = "localhost/bbase:1"
BASE_TAR = ANCHORS / "bbase.tar"
LAMINA = Path(sys.executable).with_name("lamina")


class Skip(Exception):
    """A workload (or one tool in it) cannot run here; the message says why."""


class CommandFailed(Exception):
    """A measured or preparatory command exited non-zero."""

    def __init__(self, argv: Sequence[str], code: int, stderr: str) -> None:
        last = [line for line in stderr.strip().splitlines() if line.strip()][-2:]
        super().__init__(f"run {' '.join(argv)[:100]}: exit {code}: {' / '.join(last)[-300:]}")
        self.argv, self.code, self.stderr = list(argv), code, stderr


@dataclass(frozen=True, slots=True)
class Result:
    """One measured figure: all samples of (workload, tool, metric) in one unit ("s", "bytes", "MB/s"...)."""

    workload: str
    tool: str
    metric: str
    samples: tuple[float, ...]
    unit: str = "s"
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def as_dict(self) -> dict[str, object]:
        return {"workload": self.workload, "tool": self.tool, "metric": self.metric, "unit": self.unit,
                "median": self.median, "min": min(self.samples), "max": max(self.samples),
                "n": len(self.samples), "samples": list(self.samples), "note": self.note}


@dataclass(frozen=True, slots=True)
class Skipped:
    """A (workload, tool) that did not run, with the reason printed and stored in the JSON."""

    workload: str
    tool: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"workload": self.workload, "tool": self.tool, "skipped": self.reason}


@dataclass(slots=True)
class Context:
    """What every workload gets: scratch space, repetition counts, the lamina root and the sink."""

    work: Path
    quick: bool = False
    driver: str = "overlay"
    results: list[Result] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def lamina_root(self) -> Path:
        return self.work / "lamina-root"

    def reps(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def add(self, result: Result) -> Result:
        self.results.append(result)
        print(f"    {result.workload:3} {result.tool:16} {result.metric:24} {fmt(result.median, result.unit):>12}"
              f"  (n={len(result.samples)}){'  ' + result.note if result.note else ''}", flush=True)
        return result

    def skip(self, workload: str, tool: str, reason: str) -> None:
        self.skipped.append(Skipped(workload, tool, reason))
        print(f"    {workload:3} {tool:16} skipped: {reason}", flush=True)

    def lamina(self, *args: str) -> list[str]:
        """argv of the installed ``lamina`` console script on this run's root and driver."""
        return [str(LAMINA), "--root", str(self.lamina_root), "--storage-driver", self.driver, *args]


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "bytes":
        return f"{value:,.0f} B"
    if unit == "KiB":
        return f"{value / 1024:.1f} MiB"
    return f"{value:.1f} {unit}"


def sh(argv: Sequence[str], *, check: bool = True, env: dict[str, str] | None = None,
       stdin: int | None = subprocess.DEVNULL, timeout: float | None = 1800) -> subprocess.CompletedProcess[str]:
    """Run a preparatory or measured command; raise CommandFailed (with stderr) when check and it fails."""
    proc = subprocess.run(list(argv), stdin=stdin, capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr + proc.stdout)
    return proc


def clock(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def timed(n: int, run: Callable[[], object], prepare: Callable[[], object] | None = None,
          warmup: int = 0) -> tuple[float, ...]:
    """Wall seconds of ``run`` n times (``prepare`` before each, untimed), after ``warmup`` untimed runs."""
    for _ in range(warmup):
        if prepare is not None:
            prepare()
        run()
    samples = []
    for _ in range(n):
        if prepare is not None:
            prepare()
        samples.append(clock(run))
    return tuple(samples)


def timed_cmd(n: int, argv: Sequence[str], prepare: Callable[[], object] | None = None, warmup: int = 0,
              env: dict[str, str] | None = None) -> tuple[float, ...]:
    return timed(n, lambda: sh(argv, env=env), prepare, warmup)


def which(name: str) -> str | None:
    return shutil.which(name)


def tree_bytes(path: Path) -> int:
    """Apparent size of everything under ``path`` (``du -sb``), hard links counted once."""
    return int(sh(["du", "-sb", str(path)]).stdout.split()[0])


def peak_rss_kib(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS KiB) of one command, via /usr/bin/time -f %M (the command's own maxrss)."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-rss-{os.getpid()}"
    start = time.perf_counter()
    sh(["/usr/bin/time", "-f", "%M", "-o", str(out), *argv], env=env)
    wall = time.perf_counter() - start
    kib = int(out.read_text().split()[-1])
    out.unlink()
    return wall, kib


def missing_verbs(*verbs: str) -> str | None:
    """None when every ``lamina VERB --help`` works, else "not available yet: lamina VERB ..." to print."""
    absent = [v for v in verbs if sh([str(LAMINA), *v.split(), "--help"], check=False).returncode != 0]
    return f"not available yet: lamina {', '.join(absent)} has no such command" if absent else None


def require(*verbs: str) -> None:
    reason = missing_verbs(*verbs)
    if reason:
        raise Skip(reason)


def ensure_lamina_base(ctx: Context) -> None:
    """Import the shared base tarball (the peers' bbase:1, byte-identical) into this run's root once."""
    if ctx.facts.get("lamina_base"):
        return
    if not BASE_TAR.exists():
        raise Skip(f"{BASE_TAR} missing (run ../shared/peers/setup.sh)")
    sh(ctx.lamina("import", str(BASE_TAR), BASE))
    ctx.facts["lamina_base"] = True


def guard(ctx: Context, workload: str, tool: str, fn: Callable[[], object]) -> bool:
    """Run one tool's part of a workload; a Skip or a failed command is recorded, not raised."""
    try:
        fn()
        return True
    except Skip as why:
        ctx.skip(workload, tool, str(why))
    except (CommandFailed, subprocess.TimeoutExpired, OSError) as exc:
        ctx.skip(workload, tool, f"failed: {exc}")
    return False
