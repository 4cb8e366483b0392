"""W5: disk per extra image: images that share the base and an 8 MiB layer and differ in one small COPY.

lamina and podman build into a fresh root each (``du -sb`` of the root is exact); docker is measured
as the growth of ``du -sb /var/lib/docker`` (classic builder), as measure.sh does. The figure is
(size after k images − size after 1) / (k − 1), plus the median time to build one more variant.
It must remove the images it builds from docker's store and its fresh roots.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import peers

from workloads.core import ANCHORS, BASE, BASE_TAR, PEERS_DIR, Context, Result, clock, guard, require, sh, tree_bytes


def context_dir() -> Path:
    d = ANCHORS / "work" / "w5"
    if not (d / "shared.bin").exists():
        sh([sys.executable, str(PEERS_DIR / "gen_context.py"), "w5", str(d)])
    shutil.copy(PEERS_DIR / "dockerfiles" / "W5.Dockerfile", d / "Dockerfile")
    return d


def series(ctx: Context, tool: str, build: Callable[[int], object], size: Callable[[], int]) -> None:
    """Build k variants; record bytes per extra image and the build time of variants 2..k."""
    k, d = ctx.reps(10, 4), context_dir()
    sizes, times = [size()], []
    for i in range(k):
        (d / "variant.txt").write_text(f"variant {i}\n")
        times.append(clock(lambda i=i: build(i)))  # type: ignore[misc]
        if i == 0 or i == k - 1:
            sizes.append(size())
    base_only, one, last = sizes
    ctx.add(Result("W5", tool, "bytes-per-extra-image", ((last - one) / (k - 1),), "bytes",
                   f"base-only {base_only:,} B, 1 image {one:,} B, {k} images {last:,} B"))
    ctx.add(Result("W5", tool, "build-variant", tuple(times[1:])))


def lamina(ctx: Context) -> None:
    require("build")
    root, d = ctx.work / "w5-lamina", context_dir()
    shutil.rmtree(root, ignore_errors=True)
    cli = [ctx.lamina()[0], "--root", str(root), "--storage-driver", ctx.driver]
    sh([*cli, "import", str(BASE_TAR), BASE])
    try:
        series(ctx, "lamina", lambda i: sh([*cli, "build", "-q", "--network", "none", "-t", f"localhost/w5:{i}",
                                            str(d)]), lambda: tree_bytes(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def podman(ctx: Context) -> None:
    root, d = ctx.work / "w5-podman", context_dir()
    store = ["podman", "--root", str(root / "root"), "--runroot", str(root / "run")]
    sh([*store, "import", "-q", str(BASE_TAR), BASE])
    try:
        series(ctx, "podman", lambda i: sh([*store, "build", "-q", "--network", "none", "--layers", "-t",
                                            f"localhost/w5:{i}", str(d)]), lambda: tree_bytes(root / "root"))
    finally:
        sh([*store, "rmi", "-af"], check=False)
        shutil.rmtree(root, ignore_errors=True)


def docker(ctx: Context) -> None:
    d, env = context_dir(), {**os.environ, "DOCKER_BUILDKIT": "0"}

    def size() -> int:
        os.sync()
        return tree_bytes(Path("/var/lib/docker"))
    try:
        series(ctx, "docker", lambda i: sh([peers.DOCKER, "build", "-q", "--network", "none", "-t",
                                            f"localhost/w5:{i}", str(d)], env=env), size)
    finally:
        ids = sh([peers.DOCKER, "images", "-q", "localhost/w5"], check=False).stdout.split()
        if ids:
            sh([peers.DOCKER, "rmi", "-f", *sorted(set(ids))], check=False)


def run(ctx: Context, tools: dict[str, str | None]) -> None:
    guard(ctx, "W5", "lamina", lambda: lamina(ctx))
    for tool, fn in (("podman", podman), ("docker", docker)):
        if tools.get(tool):
            ctx.skip("W5", tool, str(tools[tool]))
        else:
            guard(ctx, "W5", tool, lambda f=fn: f(ctx))  # type: ignore[misc]
