"""W3: commit of a stopped container that wrote a new 100 MiB file (random bytes).

Before each rep (untimed) a container ``w3c`` runs ``dd if=/dev/urandom of=/data100 bs=1M count=100``
on the base and exits; the timed command is ``TOOL commit w3c localhost/w3:TOOL`` (podman with -q), as
measure.sh does. It must remove its containers and images afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import peers

from workloads.core import BASE, Context, Result, ensure_lamina_base, guard, require, sh, timed

MAKE = "dd if=/dev/urandom of=/data100 bs=1M count=100 2>/dev/null"


def steps(cli: Callable[..., list[str]], tool: str) -> tuple[Callable[[], object], Callable[[], object],
                                                              Callable[[], object]]:
    """(prepare, commit, cleanup) for a tool whose argv prefix is ``cli(*args)``."""
    image = f"localhost/w3:{tool}"

    def cleanup() -> None:
        sh(cli("rm", "-f", "w3c"), check=False)
        sh(cli("rmi", "-f", image), check=False)

    def prepare() -> None:
        cleanup()
        sh(cli("run", "--name", "w3c", "--network", "none", BASE, "sh", "-c", MAKE))

    quiet = ["-q"] if tool == "podman" else []
    return prepare, (lambda: sh(cli("commit", *quiet, "w3c", image))), cleanup


def measure(ctx: Context, tool: str, cli: Callable[..., list[str]]) -> None:
    prepare, commit, cleanup = steps(cli, tool)
    try:
        ctx.add(Result("W3", tool, "commit-100MiB", timed(ctx.reps(3, 1), commit, prepare)))
    finally:
        cleanup()


def lamina(ctx: Context) -> None:
    require("run", "commit", "rm")
    ensure_lamina_base(ctx)
    measure(ctx, "lamina", ctx.lamina)


def run(ctx: Context, tools: dict[str, str | None]) -> None:
    guard(ctx, "W3", "lamina", lambda: lamina(ctx))
    for tool in ("podman", "docker"):
        if tools.get(tool):
            ctx.skip("W3", tool, str(tools[tool]))
            continue
        guard(ctx, "W3", tool, lambda t=tool: measure(  # type: ignore[misc]
            ctx, t, lambda *a, c=peers.cli(t): [c, *a]))
