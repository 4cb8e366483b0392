"""The peer tools lamina is measured against, as ../shared/peers/setup.sh installs and configures them.

Which peers work here (``available``), the exact commands measure.sh uses for each (build, clean,
run, commit), and ``ensure_setup`` which runs setup.sh (idempotent) when dockerd or the base image
is missing. Timing is not done here; the workload modules time these commands.
It must not change the peers' configuration beyond what setup.sh does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from workloads.core import BASE, PEERS_DIR, CommandFailed, sh, which

DOCKER = "/usr/bin/docker"          # Debian's 20.10 client; /usr/local/bin/docker (28.x) may shadow it
BUILDERS = ("podman", "docker", "buildkit")


def docker_ok() -> bool:
    try:
        return sh([DOCKER, "info"], check=False, timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def podman_ok() -> bool:
    return which("podman") is not None and sh(["podman", "image", "exists", BASE], check=False).returncode == 0


def available() -> dict[str, str | None]:
    """tool -> None when usable, else the reason it is not."""
    podman = None if podman_ok() else "podman missing or has no localhost/bbase:1 (run setup.sh)"
    docker = None if docker_ok() else "dockerd not answering on /var/run/docker.sock (run setup.sh)"
    return {"podman": podman, "docker": docker, "buildkit": docker,
            "skopeo": None if which("skopeo") and podman is None else "skopeo or podman storage missing",
            "crun": None if which("crun") else "crun not installed",
            "hyperfine": None if which("hyperfine") else "hyperfine not installed"}


def ensure_setup(log: Path) -> None:
    """Run setup.sh unless dockerd answers and both stores already hold the base image."""
    if docker_ok() and podman_ok():
        return
    print(f"[bench] running {PEERS_DIR / 'setup.sh'} (log {log})", flush=True)
    with open(log, "w") as out:
        proc = subprocess.run([str(PEERS_DIR / "setup.sh")], stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise CommandFailed(["setup.sh"], proc.returncode, log.read_text()[-2000:])


def cli(tool: str) -> str:
    return "podman" if tool == "podman" else DOCKER


def build_argv(tool: str, tag: str, context: Path) -> tuple[list[str], dict[str, str] | None]:
    """(argv, extra environment) of a quiet, network-less build, exactly as measure.sh runs it."""
    if tool == "podman":
        return ["podman", "build", "-q", "--network", "none", "--layers", "-t", tag, str(context)], None
    kit = "1" if tool == "buildkit" else "0"
    argv = [DOCKER, "build", "-q", "--network", "none", "-t", tag, str(context)]
    if tool == "docker":
        argv.insert(3, "--force-rm")
    return argv, {"DOCKER_BUILDKIT": kit}


def clean_images(tool: str) -> None:
    """Remove every container and image but the base (and for docker, the BuildKit cache)."""
    c = cli(tool)
    if tool == "podman":
        sh(["podman", "rm", "-af"], check=False)
    else:
        ids = sh([c, "ps", "-aq"], check=False).stdout.split()
        if ids:
            sh([c, "rm", "-f", *ids], check=False)
    base = sh([c, "image", "inspect", "--format", "{{.Id}}", BASE]).stdout.strip().removeprefix("sha256:")
    listed = sh([c, "images", "-a", "--no-trunc", "--format", "{{.ID}}"], check=False).stdout.split()
    others = sorted({i.removeprefix("sha256:") for i in listed} - {base})
    if others:
        sh([c, "rmi", "-f", *others], check=False)
    if tool != "podman":
        sh([DOCKER, "builder", "prune", "-af"], check=False)


def run_true_argv(tool: str) -> list[str]:
    return [cli(tool), "run", "--rm", "--network", "none", BASE, "true"]


def versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, argv in {"podman": ["podman", "--version"], "docker": [DOCKER, "--version"],
                       "skopeo": ["skopeo", "--version"], "crun": ["crun", "--version"],
                       "registry": ["docker-registry", "--version"], "tar": ["tar", "--version"]}.items():
        try:
            out[name] = sh(argv, check=False).stdout.splitlines()[0].strip()
        except (OSError, IndexError):
            out[name] = "missing"
    return out
