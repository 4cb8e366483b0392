"""Peak RSS of lamina build, save, load, push and pull of an image with one big layer, at two sizes.

The layer is one file of S bytes (1 MiB blocks, each unique, so it does not compress); the image is
``FROM bbase; COPY big.bin /big.bin``. Each verb is one ``lamina`` process under ``/usr/bin/time -f
%M`` (its own maximum RSS). Goal: under 150 MB and flat in S (the 1 GiB figure ≈ the small one).
It must delete its multi-GiB scratch files as it goes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from workloads import w4_registry
from workloads.core import BASE, BASE_TAR, Context, Result, guard, peak_rss_kib, require, sh

MIB = 1 << 20


def make_context(d: Path, size: int) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "Dockerfile").write_text(f"FROM {BASE}\nCOPY big.bin /big.bin\n")
    block = os.urandom(MIB)
    with open(d / "big.bin", "wb") as f:
        for i in range(size // MIB):
            f.write(block[:-8] + i.to_bytes(8, "big"))
    return d


def cli(ctx: Context, root: Path) -> list[str]:
    return [ctx.lamina()[0], "--root", str(root), "--storage-driver", ctx.driver]


def one_size(ctx: Context, size: int) -> None:
    label, w = f"{size // MIB}MiB", ctx.work / "rss"
    shutil.rmtree(w, ignore_errors=True)
    src, tag, archive = w / "src-root", f"localhost/rss:{size // MIB}", w / "image.tar"
    sh([*cli(ctx, src), "import", str(BASE_TAR), BASE])
    build_ctx = make_context(w / "ctx", size)
    record(ctx, "build", label, [*cli(ctx, src), "build", "-q", "--network", "none", "-t", tag, str(build_ctx)])
    shutil.rmtree(build_ctx)
    record(ctx, "save", label, [*cli(ctx, src), "save", "-o", str(archive), tag])
    record(ctx, "load", label, [*cli(ctx, w / "load-root"), "load", "-q", "-i", str(archive)])
    archive.unlink()
    shutil.rmtree(w / "load-root")
    with w4_registry.registry(w / "registry") as host:
        remote = f"{host}/bench/rss:{label.lower()}"
        sh([*cli(ctx, src), "tag", tag, remote])
        record(ctx, "push", label, [*cli(ctx, src), "push", "-q", remote])
        record(ctx, "pull", label, [*cli(ctx, w / "pull-root"), "pull", "-q", remote])
    shutil.rmtree(w, ignore_errors=True)


def record(ctx: Context, verb: str, label: str, argv: list[str]) -> None:
    wall, kib = peak_rss_kib(argv)
    ctx.add(Result("RSS", "lamina", f"peak-rss-{verb}-{label}", (float(kib),), "KiB", f"{wall:.1f} s"))


def run(ctx: Context, tools: dict[str, str | None]) -> None:
    sizes = (64 * MIB, 256 * MIB) if ctx.quick else (256 * MIB, 1024 * MIB)

    def both() -> None:
        require("build", "save", "load", "push", "pull")
        for size in sizes:
            one_size(ctx, size)
    guard(ctx, "RSS", "lamina", both)
