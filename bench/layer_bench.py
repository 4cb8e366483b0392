#!/usr/bin/env python3
"""Benchmark lamina.layer against GNU tar on the W1 context (2,000 small files + 64 MiB).

    python bench/layer_bench.py [--dir DIR] [--runs 3]

Times, in the same run, median of --runs: write_tree to a file (plain, gzip, zstd)
vs ``tar -cf`` (and ``tar -czf`` for reference), and apply_layer vs ``tar -xf`` into
a fresh directory. Prints a table and the lamina/tar ratios. Not a test: no asserts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lamina.layer.apply import apply_layer
from lamina.layer.compression import CompressingWriter, open_decompressed
from lamina.layer.tarwriter import write_tree
from lamina.layer.whiteout import OCIWhiteouts

GEN = Path(__file__).resolve().parents[2] / "shared" / "peers" / "gen_context.py"


def timed(fn: Callable[[], object], prepare: Callable[[], object] | None, runs: int) -> float:
    samples = []
    for _ in range(runs):
        if prepare is not None:
            prepare()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def fresh(path: Path) -> Callable[[], None]:
    def make() -> None:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir()
        os.sync()  # settle writeback from the previous run so it does not bill the next one
    return make


def lamina_write(tree: Path, out: Path, compression: str | None) -> None:
    with open(out, "wb") as f:
        if compression is None:
            write_tree(tree, f)
        else:
            with CompressingWriter(f, compression) as w:  # type: ignore[arg-type]
                write_tree(tree, w)  # type: ignore[arg-type]


def lamina_apply(tar: Path, dest: Path) -> None:
    with open(tar, "rb") as f, open_decompressed(f) as plain:
        apply_layer(plain, dest, whiteouts=OCIWhiteouts())


def run(base: Path, runs: int) -> None:
    if not (base / "ctx").exists():
        subprocess.run([sys.executable, str(GEN), "w1", str(base)], check=True)
    tree, out, dest = base / "ctx", base / "out", base / "dest"
    out.mkdir(exist_ok=True)
    rows = [
        ("create plain", lambda: lamina_write(tree, out / "l.tar", None),
         lambda: subprocess.run(["tar", "-cf", str(out / "g.tar"), "-C", str(tree), "."], check=True)),
        ("create gzip", lambda: lamina_write(tree, out / "l.tar.gz", "gzip"),
         lambda: subprocess.run(["tar", "-czf", str(out / "g.tar.gz"), "-C", str(tree), "."], check=True)),
        ("create zstd", lambda: lamina_write(tree, out / "l.tar.zst", "zstd"), None),
        ("apply plain", lambda: lamina_apply(out / "l.tar", dest),
         lambda: subprocess.run(["tar", "-xf", str(out / "g.tar"), "-C", str(dest)], check=True)),
        ("apply gzip", lambda: lamina_apply(out / "l.tar.gz", dest),
         lambda: subprocess.run(["tar", "-xzf", str(out / "g.tar.gz"), "-C", str(dest)], check=True)),
        ("apply zstd", lambda: lamina_apply(out / "l.tar.zst", dest), None),
    ]
    print(f"{'operation':<14} {'lamina s':>9} {'tar s':>9} {'ratio':>7}")
    for name, ours, theirs in rows:
        prep = fresh(dest) if name.startswith("apply") else None
        t_ours = timed(ours, prep, runs)
        if theirs is None:
            print(f"{name:<14} {t_ours:9.3f} {'-':>9} {'-':>7}")
            continue
        t_tar = timed(theirs, prep, runs)
        print(f"{name:<14} {t_ours:9.3f} {t_tar:9.3f} {t_ours / t_tar:7.2f}")
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    print("sizes:", ", ".join(f"{k}={v / 1e6:.1f}MB" for k, v in sizes.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="work dir (default: a temp dir, removed)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        run(args.dir, args.runs)
        return
    with tempfile.TemporaryDirectory(prefix="lamina-layer-bench-", dir="/var/tmp") as tmp:
        run(Path(tmp), args.runs)


if __name__ == "__main__":
    main()
