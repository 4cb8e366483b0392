"""Floors: what the machine does below any engine, on the W1 context (2,000 small files + 64 MiB).

GNU tar create/extract of the context, ``sha256sum`` and Python's hashlib (what lamina hashes with)
over the 64 MiB file, and isal's igzip level 1 compress/decompress of it (what lamina compresses
with). Throughputs in MB/s (10^6 bytes per second). lamina's own tar engine against GNU tar is
bench/layer_bench.py. It must not write outside the run's work directory.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

from workloads import w1_build
from workloads.core import Context, Result, guard, timed, timed_cmd, which


def tar_floor(ctx: Context, n: int) -> None:
    src, tar, dest = w1_build.context_dir(), ctx.work / "floor.tar", ctx.work / "floor-x"
    ctx.add(Result("floor", "gnu-tar", "create-w1-ctx", timed_cmd(n, ["tar", "-C", str(src), "-cf", str(tar),
                                                                      "ctx"], warmup=1)))

    def fresh() -> None:
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir()
    ctx.add(Result("floor", "gnu-tar", "extract-w1-ctx", timed_cmd(n, ["tar", "-C", str(dest), "-xf", str(tar)],
                                                                   fresh)))
    shutil.rmtree(dest, ignore_errors=True)
    tar.unlink()


def rate(samples: tuple[float, ...], size: int) -> tuple[float, ...]:
    return tuple(size / s / 1e6 for s in samples)


def hash_floor(ctx: Context, n: int, big: Path) -> None:
    size = big.stat().st_size
    ctx.add(Result("floor", "sha256sum", "sha256-MB/s", rate(timed_cmd(n, ["sha256sum", str(big)], warmup=1),
                                                             size), "MB/s"))
    data = big.read_bytes()
    ctx.add(Result("floor", "python", "hashlib-sha256-MB/s",
                   rate(timed(n, lambda: hashlib.sha256(data).digest()), size), "MB/s"))


def isal_floor(ctx: Context, n: int, big: Path) -> None:
    from isal import igzip

    data = big.read_bytes()
    packed = igzip.compress(data, compresslevel=1)
    ctx.add(Result("floor", "isal", "igzip1-compress-MB/s",
                   rate(timed(n, lambda: igzip.compress(data, compresslevel=1)), len(data)), "MB/s"))
    unpack: Callable[[bytes], bytes] = igzip.decompress
    ctx.add(Result("floor", "isal", "igzip-decompress-MB/s", rate(timed(n, lambda: unpack(packed)), len(data)), "MB/s"))


def run(ctx: Context, tools: dict[str, str | None]) -> None:
    n = ctx.reps(5, 2)
    big = w1_build.context_dir() / "ctx" / "big.bin"
    if which("tar"):
        guard(ctx, "floor", "gnu-tar", lambda: tar_floor(ctx, n))
    guard(ctx, "floor", "sha256sum", lambda: hash_floor(ctx, n, big))
    guard(ctx, "floor", "isal", lambda: isal_floor(ctx, n, big))
