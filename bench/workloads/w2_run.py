"""W2: ``run --rm IMAGE true`` latency, lamina vs podman and docker, plus the floors below any engine.

Floors (measure.sh's): bare ``crun run`` of an unpacked bundle, and a shell script doing what an
engine must do at least (mkdir upper/work, mount an overlay of the base, ``crun run``, umount, rm).
Two untimed warm-ups, then n timed runs. It must not leave containers behind.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import peers

from workloads.core import ANCHORS, BASE, Context, Result, Skip, ensure_lamina_base, guard, require, sh, timed_cmd

OVERLAY_SCRIPT = """#!/bin/bash
set -e
b={dir}/b.$$; mkdir -p $b/upper $b/work $b/rootfs
mount -t overlay overlay -o lowerdir={dir}/lower,upperdir=$b/upper,workdir=$b/work $b/rootfs
cp {bundle}/config.json $b/config.json
crun run -b $b bench-ovl-$$
umount $b/rootfs; rm -rf $b
"""


def bundle() -> Path:
    b = ANCHORS / "bundle-true"
    if not (b / "config.json").exists():
        raise Skip(f"{b} missing (setup.sh prepares it)")
    return b


def overlay_script(ctx: Context) -> Path:
    d = ctx.work / "w2-ovl"
    (d / "lower").mkdir(parents=True, exist_ok=True)
    sh(["tar", "-C", str(d / "lower"), "-xf", str(ANCHORS / "bbase.tar")])
    script = d / "run.sh"
    script.write_text(OVERLAY_SCRIPT.format(dir=d, bundle=bundle()))
    script.chmod(0o755)
    return script


def lamina(ctx: Context, n: int) -> None:
    require("run")
    ensure_lamina_base(ctx)
    argv = ctx.lamina("run", "--rm", "--network", "none", BASE, "true")
    ctx.add(Result("W2", "lamina", "run-true", timed_cmd(n, argv, warmup=2)))


def run(ctx: Context, tools: dict[str, str | None]) -> None:
    n = ctx.reps(15, 5)
    guard(ctx, "W2", "lamina", lambda: lamina(ctx, n))
    for tool in ("podman", "docker"):
        if tools.get(tool):
            ctx.skip("W2", tool, str(tools[tool]))
            continue
        guard(ctx, "W2", tool, lambda t=tool: ctx.add(  # type: ignore[misc]
            Result("W2", t, "run-true", timed_cmd(n, peers.run_true_argv(t), warmup=2))))
    if tools.get("crun"):
        ctx.skip("W2", "crun", str(tools["crun"]))
        return
    guard(ctx, "W2", "crun", lambda: ctx.add(Result("W2", "crun", "run-true", timed_cmd(
        n, ["crun", "run", "-b", str(bundle()), "bench-floor-" + uuid.uuid4().hex[:8]], warmup=2))))
    guard(ctx, "W2", "crun+overlay", lambda: ctx.add(Result("W2", "crun+overlay", "run-true", timed_cmd(
        n, [str(overlay_script(ctx))], warmup=2))))
