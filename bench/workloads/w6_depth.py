"""W6: the deepest image that builds and runs: FROM base + N ``RUN echo i > /fi`` (gen_context.py w6).

lamina builds N = 1,000 (130 with --quick) and runs the result, whose CMD counts the /f* files; the
figure is the image's layer count (base + N) when both succeed. The peers fail at 125–129 layers
with "max depth exceeded" (BASELINE.md §1); their ceilings are quoted from there unless
``--w6-peers`` re-probes them here (N = 124, 127, 128; slow: podman needs ~1 min per probe).
It must not leave the probe images behind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import peers

from workloads.core import ANCHORS, PEERS_DIR, Context, Result, clock, ensure_lamina_base, guard, require, sh

# image layers (base + N) that both built and ran, measured in BASELINE.md §1 (podman 4.3.1, docker 20.10.24)
BASELINE_MAX = {"podman": 128, "docker": 124, "buildkit": 127}
PROBES = (124, 127, 128)


def dockerfile(n: int) -> Path:
    d = ANCHORS / "work" / f"w6-{n}"
    if not (d / "Dockerfile").exists():
        sh([sys.executable, str(PEERS_DIR / "gen_context.py"), "w6", str(d), str(n)])
    return d


def lamina(ctx: Context) -> None:
    require("build", "run")
    ensure_lamina_base(ctx)
    n = 130 if ctx.quick else int(os.environ.get("W6_LAYERS", "1000"))
    tag = f"localhost/w6:{n}"
    build = clock(lambda: sh(ctx.lamina("build", "-q", "--network", "none", "-t", tag, str(dockerfile(n)))))
    ctx.add(Result("W6", "lamina", f"build-{n + 1}-layers", (build,)))
    out: list[str] = []
    took = clock(lambda: out.append(sh(ctx.lamina("run", "--rm", "--network", "none", tag)).stdout.strip()))
    if out != [str(n)]:
        raise RuntimeError(f"run of the {n + 1}-layer image printed {out!r}, expected {n}")
    ctx.add(Result("W6", "lamina", f"run-{n + 1}-layers", (took,)))
    layers = int(sh(ctx.lamina("inspect", "--format", "{{len .RootFS.Layers}}", tag)).stdout.strip())
    ctx.add(Result("W6", "lamina", "max-layers", (float(layers),), "layers", "built and ran (lower bound)"))
    sh(ctx.lamina("rmi", "-f", tag), check=False)


def probe(tool: str, n: int) -> bool:
    """Does FROM base + n RUN layers build and run with ``tool``?"""
    tag = f"localhost/w6p:{tool}-{n}"
    argv, env = peers.build_argv(tool, tag, dockerfile(n))
    try:
        if sh(argv, check=False, env=None if env is None else {**os.environ, **env}).returncode != 0:
            return False
        return sh([peers.cli(tool), "run", "--rm", "--network", "none", tag], check=False).returncode == 0
    finally:
        sh([peers.cli(tool), "rmi", "-f", tag], check=False)


def peer(ctx: Context, tool: str, reprobe: bool) -> None:
    if not reprobe:
        ctx.add(Result("W6", tool, "max-layers", (float(BASELINE_MAX[tool]),), "layers",
                       "quoted from BASELINE.md (not re-run; --w6-peers re-probes)"))
        return
    ok = [n + 1 for n in PROBES if probe(tool, n)]
    ctx.add(Result("W6", tool, "max-layers", (float(max(ok, default=0)),), "layers",
                   f"probed image depths {[n + 1 for n in PROBES]}: ok {ok}"))


def run(ctx: Context, tools: dict[str, str | None], reprobe: bool = False) -> None:
    guard(ctx, "W6", "lamina", lambda: lamina(ctx))
    for tool in peers.BUILDERS:
        if tools.get(tool) and reprobe:
            ctx.skip("W6", tool, str(tools[tool]))
        else:
            guard(ctx, "W6", tool, lambda t=tool: peer(ctx, t, reprobe))  # type: ignore[misc]

