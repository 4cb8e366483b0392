"""Mount time of deep overlay stacks: nesting (+ flattening past 999) versus flattening only.

Run as root on a kernel with overlayfs: ``python bench/depth_bench.py [--depths 125,500,1000,2000]``.
Prints one table row per (depth, strategy, cold|warm flat cache) and, with ``--json``, the same figures as JSON.
Each layer holds one small file; layer 0 also holds ``/bottom`` which is checked through
the merged view, so a figure is only printed for a mount that shows the whole stack.
It must not be imported by lamina and must not run in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from lamina.driver.overlay import OverlayDriver

ORDER = ("auto", "flatten")


def build_stack(driver: OverlayDriver, depth: int) -> str:
    """Create *depth* layers (each with one file written straight into its diff dir); return the top id."""
    parent: str | None = None
    for i in range(depth):
        layer_id = f"l{i:05d}"
        driver.create(layer_id, parent)
        upper = Path(driver.metadata(layer_id)["UpperDir"])
        (upper / f"f{i}").write_text(str(i))
        if i == 0:
            (upper / "bottom").write_text("bottom")
        parent = layer_id
    assert parent is not None
    return parent


def time_mount(driver: OverlayDriver, top: str) -> float:
    start = time.perf_counter()
    merged = driver.mount(top)
    elapsed = time.perf_counter() - start
    try:
        if (merged / "bottom").read_text() != "bottom":
            raise SystemExit(f"mount of {top} does not show the bottom layer")
    finally:
        driver.unmount(top)
    return elapsed


def run(depths: list[int], workdir: Path, legacy: bool) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for depth in depths:
        home = Path(tempfile.mkdtemp(prefix=f"depth{depth}-", dir=workdir))
        try:
            top = build_stack(OverlayDriver(home, legacy_mount=legacy), depth)
            for deep in ORDER:
                shutil.rmtree(home / "overlay" / "flat")   # every strategy starts cold
                (home / "overlay" / "flat").mkdir()
                os.sync()   # no writeback from the previous step in the figures
                driver = OverlayDriver(home, deep=deep, legacy_mount=legacy)
                rows.append({"depth": depth, "strategy": f"{deep}-cold", "seconds": time_mount(driver, top)})
                rows.append({"depth": depth, "strategy": f"{deep}-warm", "seconds": _best(driver, top)})
                driver.cleanup()
        finally:
            shutil.rmtree(home, ignore_errors=True)
    return rows


def _best(driver: OverlayDriver, top: str, tries: int = 5) -> float:
    return min(time_mount(driver, top) for _ in range(tries))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="125,500,1000,2000")
    parser.add_argument("--workdir", default="/var/tmp")
    parser.add_argument("--legacy", action="store_true", help="mount(2) with l/ links instead of fsconfig")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = run([int(d) for d in args.depths.split(",")], Path(args.workdir), args.legacy)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    sys.stdout.write(f"{'layers':>7}  {'strategy':<13} {'mount time':>10}\n")
    for row in rows:
        seconds = float(str(row["seconds"]))
        sys.stdout.write(f"{row['depth']:>7}  {row['strategy']:<13} {seconds * 1000:>8.1f} ms\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
