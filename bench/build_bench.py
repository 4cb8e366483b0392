"""W1 build benchmark: ``lamina build`` of ../shared/peers/dockerfiles/W1.Dockerfile, as measure.sh does it.

    python bench/build_bench.py [-n 3] [--driver overlay|copy] [--work DIR]

The context comes from ../shared/peers/gen_context.py w1 (2000 small files + 64 MiB); the base is
the bbase rootfs (lamina.testing.rootfs, byte-identical to setup.sh's) imported as localhost/bbase:1.
Three figures, median/min/max of n runs, printed as tab-separated rows like peers' results.tsv:
cold (image removed and ``builder prune`` before each run), fully cached (same command again), and
one small context file changed (``gen_context.py touch ctx/small/0007.bin`` before each run).
Every build is ``lamina build -q --network none -t localhost/bench-w1:lamina CTX`` in a subprocess,
so CLI start-up is included. Needs root, crun and busybox-static.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers"
TAG = "localhost/bench-w1:lamina"


def lamina(root: Path, driver: str | None, *args: str) -> None:
    cmd = [sys.executable, "-m", "lamina", "--root", str(root)]
    if driver:
        cmd += ["--storage-driver", driver]
    subprocess.run([*cmd, *args], check=True, stdout=subprocess.DEVNULL)


def timed(n: int, before: Callable[[], object], run: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(n):
        before()
        start = time.perf_counter()
        run()
        out.append(time.perf_counter() - start)
    return out


def report(metric: str, samples: list[float]) -> None:
    print(f"W1\tlamina\t{metric}\t{statistics.median(samples):.3f}\t{min(samples):.3f}\t{max(samples):.3f}\t"
          f"{len(samples)}\ts", flush=True)


def prepare(work: Path, root: Path, driver: str | None) -> Path:
    ctx = work / "w1"
    if not (ctx / "ctx" / "big.bin").exists():
        subprocess.run([sys.executable, str(PEERS / "gen_context.py"), "w1", str(ctx)], check=True)
    shutil.copy(PEERS / "dockerfiles" / "W1.Dockerfile", ctx / "Dockerfile")
    from lamina.testing.rootfs import write_tar
    base = write_tar(work / "bbase.tar")
    lamina(root, driver, "import", str(base), "localhost/bbase:1")
    return ctx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3)
    parser.add_argument("--driver", default=None)
    parser.add_argument("--work", type=Path, default=None)
    opts = parser.parse_args()
    work = opts.work or Path(tempfile.mkdtemp(prefix="lamina-build-bench-", dir="/var/tmp"))
    root = Path(tempfile.mkdtemp(prefix="root-", dir=work))
    try:
        ctx = prepare(work, root, opts.driver)

        def build() -> None:
            lamina(root, opts.driver, "build", "-q", "--network", "none", "-t", TAG, str(ctx))

        def clean() -> None:
            subprocess.run([sys.executable, "-m", "lamina", "--root", str(root), "rmi", "-f", TAG],
                           check=False, capture_output=True)
            lamina(root, opts.driver, "builder", "prune", "-f")

        def touch() -> None:
            subprocess.run([sys.executable, str(PEERS / "gen_context.py"), "touch",
                            str(ctx / "ctx" / "small" / "0007.bin")], check=True, stdout=subprocess.DEVNULL)

        report("cold", timed(opts.n, clean, build))
        build()
        report("cached", timed(opts.n + 2, lambda: None, build))
        report("one-file-changed", timed(opts.n, touch, build))
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if opts.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
