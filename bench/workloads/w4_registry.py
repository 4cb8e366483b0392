"""W4: push the W1 image to a fresh loopback docker-registry and pull it back, lamina vs skopeo/podman/docker.

Each rep and tool gets an empty registry on 127.0.0.1:5001 (the port setup.sh marks insecure for
docker and containers/image). docker pulls after ``docker rmi`` (its store is initialised and the base
layer stays local), as measure.sh does; lamina mirrors that: it pulls into a new root that holds only
the imported base (store initialised, untimed); podman into a brand-new --root (as measure.sh).
It must stop every registry it starts.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import peers

from workloads import w1_build
from workloads.core import BASE, BASE_TAR, Context, Result, clock, guard, require, sh

PORT = 5001
HOST = f"127.0.0.1:{PORT}"
CONFIG = """version: 0.1
log: {{level: warn, accesslog: {{disabled: true}}}}
storage: {{filesystem: {{rootdirectory: {data}}}, delete: {{enabled: true}}}}
http: {{addr: "{host}", secret: lamina-bench}}
"""


@contextlib.contextmanager
def registry(work: Path) -> Iterator[str]:
    """An empty docker-registry on HOST for the duration of the block."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    (work / "config.yml").write_text(CONFIG.format(data=work / "data", host=HOST))
    with open(work / "log", "wb") as log:
        proc = subprocess.Popen(["docker-registry", "serve", str(work / "config.yml")], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_ready(proc, work)
        yield HOST
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def wait_ready(proc: subprocess.Popen[bytes], work: Path) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {(work / 'log').read_text()[-500:]}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"http://{HOST}/v2/", timeout=1).close()
            return
        time.sleep(0.05)
    raise RuntimeError(f"docker-registry did not answer on {HOST}")


def reps(ctx: Context, tool: str, push_tool: str, once: Callable[[str, int], tuple[float, float]]) -> None:
    pushes, pulls = [], []
    for i in range(ctx.reps(3, 1)):
        with registry(ctx.work / "w4-registry") as host:
            push, pull = once(host, i)
        pushes.append(push)
        pulls.append(pull)
    ctx.add(Result("W4", push_tool, "push", tuple(pushes)))
    ctx.add(Result("W4", tool, "pull", tuple(pulls)))


def lamina(ctx: Context) -> None:
    require("push", "pull", "tag")
    tag = w1_build.ensure_image(ctx, "lamina")

    def once(host: str, i: int) -> tuple[float, float]:
        remote = f"{host}/bench/w1:lamina"
        sh(ctx.lamina("tag", tag, remote))
        push = clock(lambda: sh(ctx.lamina("push", "-q", remote)))
        fresh = ctx.work / f"w4-lamina-pull{i}"
        other = [ctx.lamina()[0], "--root", str(fresh), "--storage-driver", ctx.driver]
        sh([*other, "import", str(BASE_TAR), BASE])
        pull = clock(lambda: sh([*other, "pull", "-q", remote]))
        shutil.rmtree(fresh, ignore_errors=True)
        return push, pull
    reps(ctx, "lamina", "lamina", once)


def podman(ctx: Context) -> None:
    tag = w1_build.ensure_image(ctx, "podman")

    def once(host: str, i: int) -> tuple[float, float]:
        remote = f"{host}/bench/w1:podman"
        push = clock(lambda: sh(["skopeo", "copy", "-q", "--dest-tls-verify=false",
                                 f"containers-storage:{tag}", f"docker://{remote}"]))
        fresh = ctx.work / f"w4-podman-pull{i}"
        store = ["podman", "--root", str(fresh / "root"), "--runroot", str(fresh / "run")]
        pull = clock(lambda: sh([*store, "pull", "-q", "--tls-verify=false", remote]))
        sh([*store, "rmi", "-af"], check=False)
        shutil.rmtree(fresh, ignore_errors=True)
        return push, pull
    reps(ctx, "podman", "skopeo", once)


def docker(ctx: Context) -> None:
    tag, d = w1_build.ensure_image(ctx, "docker"), peers.DOCKER

    def once(host: str, i: int) -> tuple[float, float]:
        remote = f"{host}/bench/w1:docker"
        sh([d, "tag", tag, remote])
        push = clock(lambda: sh([d, "push", "-q", remote]))
        sh([d, "rmi", "-f", tag, remote])
        pull = clock(lambda: sh([d, "pull", "-q", remote]))
        sh([d, "tag", remote, tag])
        sh([d, "rmi", remote], check=False)
        return push, pull
    reps(ctx, "docker", "docker", once)


def run(ctx: Context, tools: dict[str, str | None]) -> None:
    guard(ctx, "W4", "lamina", lambda: lamina(ctx))
    for tool, fn in (("podman", podman), ("docker", docker)):
        if tools.get(tool):
            ctx.skip("W4", tool, str(tools[tool]))
        else:
            guard(ctx, "W4", tool, lambda f=fn: f(ctx))  # type: ignore[misc]
