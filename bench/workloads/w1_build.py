"""W1: build of dockerfiles/W1.Dockerfile cold, fully cached, and with one small context file changed.

Same context (gen_context.py w1: 2,000 small files + 64 MiB), same Dockerfile, same commands as
../shared/peers/measure.sh for podman, docker classic and BuildKit; lamina runs ``lamina build -q
--network none -t localhost/bench-w1:lamina``. "Cold" removes the image and the build cache first.
It must not leave anything but the W1 images behind in the peers' stores.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import peers

from workloads.core import ANCHORS, PEERS_DIR, Context, Result, ensure_lamina_base, guard, require, sh, timed

TAG = "localhost/bench-w1:{tool}"


def context_dir() -> Path:
    """The W1 context, generated once (deterministic) where measure.sh keeps it."""
    d = ANCHORS / "work" / "w1"
    if not (d / "ctx" / "big.bin").exists():
        sh([sys.executable, str(PEERS_DIR / "gen_context.py"), "w1", str(d)])
    shutil.copy(PEERS_DIR / "dockerfiles" / "W1.Dockerfile", d / "Dockerfile")
    return d


def touch_one() -> None:
    sh([sys.executable, str(PEERS_DIR / "gen_context.py"), "touch",
        str(context_dir() / "ctx" / "small" / "0007.bin")])


def lamina_ops(ctx: Context) -> tuple[Callable[[], object], Callable[[], object]]:
    require("build", "builder prune")
    ensure_lamina_base(ctx)
    tag, d = TAG.format(tool="lamina"), context_dir()

    def build() -> None:
        sh(ctx.lamina("build", "-q", "--network", "none", "-t", tag, str(d)))

    def clean() -> None:
        sh(ctx.lamina("rmi", "-f", tag), check=False)
        sh(ctx.lamina("builder", "prune", "-af"), check=False)
    return build, clean


def peer_ops(tool: str) -> tuple[Callable[[], object], Callable[[], object]]:
    argv, env = peers.build_argv(tool, TAG.format(tool=tool), context_dir())
    full_env = None if env is None else {**os.environ, **env}
    return (lambda: sh(argv, env=full_env)), (lambda: peers.clean_images(tool))


def measure(ctx: Context, tool: str, build: Callable[[], object], clean: Callable[[], object]) -> None:
    cold, warm = ctx.reps(3, 1), ctx.reps(5, 2)
    ctx.add(Result("W1", tool, "cold", timed(cold, build, clean)))
    ctx.add(Result("W1", tool, "cached", timed(warm, build, warmup=1)))
    ctx.add(Result("W1", tool, "one-file-changed", timed(cold, build, touch_one, warmup=1)))


def ensure_image(ctx: Context, tool: str) -> str:
    """The W1 image of ``tool`` (built now if an earlier workload did not), for W4."""
    tag = TAG.format(tool=tool)
    if tool == "lamina":
        if sh(ctx.lamina("inspect", tag), check=False).returncode != 0:
            lamina_ops(ctx)[0]()
    elif sh([peers.cli(tool), "image", "inspect", tag], check=False).returncode != 0:
        peer_ops(tool)[0]()
    return tag


def run(ctx: Context, tools: dict[str, str | None]) -> None:
    context_dir()
    guard(ctx, "W1", "lamina", lambda: measure(ctx, "lamina", *lamina_ops(ctx)))
    for tool in peers.BUILDERS:
        if tools.get(tool):
            ctx.skip("W1", tool, str(tools[tool]))
            continue
        guard(ctx, "W1", tool, lambda t=tool: measure(ctx, t, *peer_ops(t)))  # type: ignore[misc]
