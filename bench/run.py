#!/usr/bin/env python3
"""The one benchmark command: lamina against its peers, side by side, in one run (``make bench``).

    .venv/bin/python bench/run.py [--only w1,w2,w3,w4,w5,w6,rss,startup,floors] [--quick]
                                  [--work DIR] [--keep] [--no-setup] [--w6-peers] [--driver overlay|copy]

Runs ../shared/peers/setup.sh when the peers are not ready (idempotent), then each selected workload
for lamina and for podman/buildah, docker classic, BuildKit and skopeo, plus the floors; prints every
median, then the table "lamina / best peer" against the goals, and writes bench/results/<UTC stamp>.json.
A lamina verb that does not exist yet is reported as "not available yet: …" and skipped.
Needs root. It asserts nothing: the figures are the output.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers
from workloads import (
    floors,
    goals,
    report,
    rss,
    startup,
    w1_build,
    w2_run,
    w3_commit,
    w4_registry,
    w5_disk,
    w6_depth,
)
from workloads.core import REPO, Context, sh

# The floors last: they create and delete thousands of files, and on ext4 without a journal the next
# minutes of inode allocations nearby pay for it (~0.5 ms each); W2 right after them measured 0.066 s
# instead of 0.047 s for lamina's fresh root, while the peers' long-lived stores sat elsewhere.
ORDER = ("startup", "w2", "w3", "w1", "w4", "w5", "rss", "w6", "floors")
TITLES = {"startup": "CLI start-up", "floors": "floors (tar, sha256, isal)", "w1": "W1 build",
          "w2": "W2 run --rm true", "w3": "W3 commit 100 MiB", "w4": "W4 push/pull", "w5": "W5 disk per image",
          "rss": "peak RSS of big-layer verbs", "w6": "W6 deepest image"}


def parse_only(text: str | None) -> list[str]:
    """``"w4,W2"`` -> ["w2", "w4"] in run order; None/"" -> all. Unknown names are an error."""
    if not text:
        return list(ORDER)
    wanted = {t.strip().lower() for t in text.split(",") if t.strip()}
    unknown = wanted - set(ORDER)
    if unknown:
        raise SystemExit(f"bench: unknown workload(s) {sorted(unknown)}; choose from {', '.join(ORDER)}")
    return [w for w in ORDER if w in wanted]


def machine() -> dict[str, object]:
    meminfo, cpuinfo = Path("/proc/meminfo").read_text(), Path("/proc/cpuinfo").read_text()
    mem = next((line.split()[1] for line in meminfo.splitlines() if line.startswith("MemTotal")), "0")
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    return {"kernel": platform.release(), "cpus": os.cpu_count(), "mem_gib": round(int(mem) / 2**20, 1),
            "cpu": next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                         if line.startswith("model name")), "?"),
            "python": platform.python_version(), "lamina_commit": commit,
            "load": Path("/proc/loadavg").read_text().split()[:3], "versions": peers.versions()}


def runners(args: argparse.Namespace) -> dict[str, Callable[[Context, dict[str, str | None]], None]]:
    return {"startup": startup.run, "floors": floors.run, "w1": w1_build.run, "w2": w2_run.run,
            "w3": w3_commit.run, "w4": w4_registry.run, "w5": w5_disk.run, "rss": rss.run,
            "w6": lambda c, t: w6_depth.run(c, t, reprobe=args.w6_peers)}


def options(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", help="comma list of: " + ",".join(ORDER))
    p.add_argument("--quick", action="store_true", help="fewer repetitions, smaller sizes (W6 130 layers)")
    p.add_argument("--work", type=Path, help="scratch directory (default: a new one under /var/tmp)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--no-setup", action="store_true", help="do not run ../shared/peers/setup.sh")
    p.add_argument("--w6-peers", action="store_true", help="re-probe the peers' layer limits (slow)")
    p.add_argument("--driver", default="overlay", choices=("overlay", "copy"))
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    selected = parse_only(args.only)
    if os.geteuid() != 0:
        raise SystemExit("bench: needs root (containers, overlay mounts, the peers' daemons)")
    compileall.compile_dir(str(REPO / "src"), quiet=1, workers=0)   # start-up without compiling
    work = args.work or Path(tempfile.mkdtemp(prefix="lamina-bench-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    if not args.no_setup:
        peers.ensure_setup(work / "setup.log")
    ctx = Context(work, quick=args.quick, driver=args.driver)
    tools = peers.available()
    meta = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "argv": sys.argv[1:],
            "quick": args.quick, "selected": selected, "tools": tools, "machine": machine()}
    print(f"[bench] work {work}; tools: " + ", ".join(f"{t}={'ok' if r is None else 'no'}" for t, r in tools.items()))
    try:
        run_all(ctx, selected, runners(args))
    finally:
        if not args.keep:
            sh(["umount", "-R", str(work)], check=False)
            shutil.rmtree(work, ignore_errors=True)
    return finish(ctx, meta, args.out)


def run_all(ctx: Context, selected: list[str], table: dict[str, Callable[..., None]]) -> None:
    tools = peers.available()
    for name in selected:
        start = time.perf_counter()
        print(f"\n=== {TITLES[name]}", flush=True)
        table[name](ctx, tools)
        ctx.facts[f"elapsed {name}"] = round(time.perf_counter() - start, 1)
        print(f"    ({ctx.facts[f'elapsed {name}']} s)", flush=True)


def finish(ctx: Context, meta: dict[str, object], out_dir: Path) -> int:
    rows = goals.compare(ctx.results)
    print("\n=== all figures\n" + report.all_results(ctx.results))
    print("\n=== lamina / best peer\n" + report.table(rows))
    print("\n=== headline ratios\n" + report.headline(rows))
    worst = goals.worst(rows)
    if worst is not None:
        print(f"\nworst against its goal: {worst.workload} {worst.metric} ({worst.score:.1f}× the allowed ratio)")
    for s in ctx.skipped:
        print(f"skipped: {s.workload} {s.tool}: {s.reason}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + ".json")
    path.write_text(json.dumps(report.document(meta, ctx.results, ctx.skipped, rows, ctx.facts), indent=1))
    print(f"\n[bench] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
