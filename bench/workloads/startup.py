"""CLI start-up: ``lamina --version`` and ``lamina images`` (median of 20), and what they import.

Every cached build and every ``run`` pays this. The floor is the venv's ``python -c pass``. The
import profile comes from ``python -X importtime`` (stderr), summarised as the modules with the
largest cumulative time. Sources are byte-compiled first (run.py does it), so the figures do not
include compiling even with PYTHONDONTWRITEBYTECODE=1. It must not modify the lamina root.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from workloads.core import Context, Result, ensure_lamina_base, guard, sh, timed_cmd

LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s+)(\S+)")


@dataclass(frozen=True, slots=True)
class Import:
    """One line of ``-X importtime``: self and cumulative microseconds, nesting depth (0 = top)."""

    module: str
    self_us: int
    cumulative_us: int
    depth: int


def parse_importtime(stderr: str) -> list[Import]:
    out = []
    for line in stderr.splitlines():
        m = LINE.match(line)
        if m:
            out.append(Import(m.group(4), int(m.group(1)), int(m.group(2)), (len(m.group(3)) - 1) // 2))
    return out


def top_imports(imports: list[Import], k: int = 10, max_depth: int = 1) -> list[Import]:
    """The k slowest imports by cumulative time among those nested at most ``max_depth`` deep."""
    shallow = [i for i in imports if i.depth <= max_depth]
    return sorted(shallow, key=lambda i: i.cumulative_us, reverse=True)[:k]


def profile(ctx: Context, name: str, args: list[str]) -> None:
    proc = sh([sys.executable, "-X", "importtime", "-m", "lamina", *args])
    imports = parse_importtime(proc.stderr)
    top = top_imports(imports)
    total = sum(i.self_us for i in imports)
    ctx.facts[f"importtime {name}"] = {"total_ms": total / 1000, "modules": len(imports),
                                       "top": [(i.module, i.cumulative_us / 1000) for i in top]}
    print(f"    importtime {name}: {len(imports)} modules, {total / 1000:.1f} ms; top cumulative: "
          + ", ".join(f"{i.module} {i.cumulative_us / 1000:.1f}" for i in top[:6]), flush=True)


def run(ctx: Context, tools: dict[str, str | None]) -> None:
    n = ctx.reps(20, 10)
    guard(ctx, "CLI", "python", lambda: ctx.add(Result("CLI", "python", "python-c-pass", timed_cmd(
        n, [sys.executable, "-c", "pass"], warmup=2))))

    def lamina() -> None:
        ensure_lamina_base(ctx)
        for name, args in (("version", ["--version"]), ("images", ctx.lamina("images")[1:])):
            ctx.add(Result("CLI", "lamina", f"start-{name}", timed_cmd(n, [ctx.lamina()[0], *args], warmup=2)))
            profile(ctx, name, args)
    guard(ctx, "CLI", "lamina", lamina)
