"""Container start-up and commit benchmark: ``lamina run --rm IMAGE true`` against bare ``crun run``.

    python bench/run_bench.py [-n 10] [--driver overlay|copy] [--commit-mib 100]

Prints one tab-separated row per measurement (median, min, max over n runs, seconds), in the
shape of ../shared/peers/results: lamina run --rm true, crun on a plain rootfs bundle, crun on
an overlay-mounted bundle (what lamina does below Python), podman when installed, and lamina
commit of a container holding an N MiB change. Needs root, crun and busybox-static.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def report(name: str, samples: list[float]) -> None:
    print(f"W2\t{name}\trun-true\t{statistics.median(samples):.3f}\t{min(samples):.3f}\t{max(samples):.3f}\t"
          f"{len(samples)}\ts", flush=True)


def lamina(root: Path, driver: str, *args: str, capture: bool = True) -> str:
    argv = [sys.executable, "-m", "lamina", "--root", str(root), "--storage-driver", driver, *args]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as users run it
    return subprocess.run(argv, check=True, capture_output=capture, text=True, env=env).stdout


def bare_bundle(work: Path) -> Path:
    from lamina.container.ocispec import RunOptions, build_runtime_config, write_etc_files
    from lamina.testing.rootfs import make_rootfs
    bundle = work / "bundle"
    rootfs = make_rootfs(bundle / "rootfs")
    write_etc_files(bundle / "etc", "bench", "private")
    config = build_runtime_config({"Cmd": ["true"]}, RunOptions(args=("true",)), rootfs,
                                  container_id="bench", etc_files=bundle / "etc")
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def crun_run(bundle: Path, state: Path) -> None:
    subprocess.run(["crun", "--root", str(state), "run", "--bundle", str(bundle), "b" + uuid.uuid4().hex[:12]],
                   check=True, stdin=subprocess.DEVNULL)


def crun_overlay(bundle: Path, state: Path, work: Path) -> None:
    merged, upper, wk = work / "merged", work / "upper", work / "work"
    for d in (merged, upper, wk):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={bundle / 'rootfs'},upperdir={upper},workdir={wk}", str(merged)], check=True)
    try:
        config = json.loads((bundle / "config.json").read_text())
        config["root"]["path"] = str(merged)
        ov = work / "ovbundle"
        ov.mkdir(exist_ok=True)
        (ov / "config.json").write_text(json.dumps(config))
        crun_run(ov, state)
    finally:
        subprocess.run(["umount", str(merged)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=10)
    parser.add_argument("--driver", default="overlay")
    parser.add_argument("--commit-mib", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lamina-bench-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        from lamina.testing.rootfs import write_tar
        tar = write_tar(work / "bb.tar")
        root = work / "root"
        lamina(root, args.driver, "import", "-c", 'CMD ["/bin/sh"]', str(tar), "busybox:latest")
        lamina(root, args.driver, "run", "--rm", "busybox", "true")  # warm caches (.pyc, probes)
        print("workload\ttool\tmetric\tmedian\tmin\tmax\tn\tunit")
        report(f"lamina-{args.driver}", timed(lambda: lamina(root, args.driver, "run", "--rm", "busybox", "true"),
                                             args.n))
        bundle = bare_bundle(work)
        state = work / "crun-state"
        report("crun", timed(lambda: crun_run(bundle, state), args.n))
        report("crun+overlay", timed(lambda: crun_overlay(bundle, state, work), args.n))
        if shutil.which("podman"):
            report("podman", timed(lambda: subprocess.run(
                ["podman", "run", "--rm", "busybox", "true"], check=False, capture_output=True), args.n))
        if args.commit_mib:
            lamina(root, args.driver, "run", "--name", "big", "busybox", "dd", "if=/dev/urandom",
                   "of=/big", "bs=1M", f"count={args.commit_mib}")
            samples = timed(lambda: lamina(root, args.driver, "commit", "big", f"big:{uuid.uuid4().hex[:6]}"), 3)
            print(f"W3\tlamina-{args.driver}\tcommit-{args.commit_mib}MiB\t{statistics.median(samples):.3f}\t"
                  f"{min(samples):.3f}\t{max(samples):.3f}\t3\ts")
            lamina(root, args.driver, "rm", "-f", "big")


if __name__ == "__main__":
    main()
