"""Mount time of deep overlay stacks: nested overlays versus flattened prefixes.

Run as root on a kernel with overlayfs: ``python bench/depth_bench.py [--depths 125,500,1000,2000]``.
Prints one table row per (depth, strategy) and, with ``--json``, the same figures as JSON.
Each layer holds one small file; layer 0 also holds ``/bottom`` which is checked through
the merged view, so a figure is only printed for a mount that shows the whole stack.
It must not be imported by lamina and must not run in the test suite.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from lamina.driver.overlay import OverlayDriver


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
            nest = OverlayDriver(home, deep="nest", legacy_mount=legacy)
            top = build_stack(nest, depth)
            rows.append({"depth": depth, "strategy": "nest", "seconds": _best(nest, top)})
            flat = OverlayDriver(home, deep="flatten", legacy_mount=legacy)
            rows.append({"depth": depth, "strategy": "flatten-cold", "seconds": time_mount(flat, top)})
            rows.append({"depth": depth, "strategy": "flatten-warm", "seconds": _best(flat, top)})
            nest.cleanup()
            flat.cleanup()
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
