"""Crash and concurrency safety, proven: SIGKILL lamina at random points, then ``system check`` must be clean.

Each round runs one CLI command (import, load, tag, rmi, commit of nothing, pull when a registry
is available) in a subprocess, kills it with SIGKILL after a random delay, and then asserts:
- ``system check`` (after start-up recovery, which the check process itself runs) finds no
  damage and no orphans: no image is half-visible (every listed image has its config, manifest,
  layer rows, driver directories and verified blobs, and its files match its diffIDs);
- nothing committed earlier was lost: every tag whose command exited 0 still names the same
  image, and every tag whose rmi exited 0 is gone.
The short run (about 20 kills) is in the default suite; the long run (>= 200) is marked slow.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lamina.testing import probes
from lamina.testing.cli import Lamina

LAMINA = [sys.executable, "-m", "lamina"]


@dataclass
class World:
    """What must hold after every round: tag -> image id for committed names, and removed tags."""

    cli: Lamina
    busybox_tar: Path
    archive: Path
    tags: dict[str, str] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    kills: int = 0
    n: int = 0


def _spawn(world: World, args: list[str]) -> subprocess.Popen[bytes]:
    cmd = [*LAMINA, "--root", str(world.cli.root), "--storage-driver", world.cli.driver or "auto", *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "SOURCE_DATE_EPOCH": "0"})


def _listing(cli: Lamina) -> dict[str, str]:
    """familiar tag -> image id, read in-process (cheaper than a CLI call)."""
    from lamina.engine.config import EngineConfig
    from lamina.engine.engine import Engine
    from lamina.reference import Reference
    with Engine(EngineConfig(root=cli.root, storage_driver=cli.driver or "auto")) as engine:
        return {Reference.parse(t).familiar(): str(i.id) for i in engine.image_store.list() for t in i.tags}


def _operation(world: World, rng: random.Random) -> tuple[list[str], str, str]:
    """(args, kind, tag) for a random command."""
    world.n += 1
    existing = sorted(_listing(world.cli))
    choice = rng.random()
    if existing and choice < 0.25:
        return ["rmi", existing[0]], "rmi", existing[0]
    if existing and choice < 0.35:
        tag = f"copy:{world.n}"
        return ["tag", rng.choice(existing), tag], "add", tag
    if choice < 0.55:
        return ["load", "-i", str(world.archive)], "load", "saved:latest"
    tag = f"crash:{world.n}"
    return ["import", "-c", f"ENV ROUND={world.n}", str(world.busybox_tar), tag], "add", tag


def _round(world: World, rng: random.Random, max_delay: float) -> None:
    args, kind, tag = _operation(world, rng)
    proc = _spawn(world, args)
    try:   # python start-up takes ~0.25 s: kill mostly while the command works
        proc.wait(timeout=rng.uniform(0.2, max_delay))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        world.kills += 1
    if proc.returncode == 0:
        _committed(world, kind, tag)
    else:   # killed or failed: the tag may or may not exist, but if it does it must be whole
        familiar = tag if ":" in tag else f"{tag}:latest"
        world.gone.discard(familiar)
        if kind == "rmi":
            world.tags.pop(familiar, None)
    _verify(world)


def _committed(world: World, kind: str, tag: str) -> None:
    familiar = tag if ":" in tag else f"{tag}:latest"
    if kind == "rmi":
        world.gone.add(familiar)
        world.tags.pop(familiar, None)
    else:
        world.gone.discard(familiar)
        world.tags[familiar] = ""   # the id is read back below


def _verify(world: World) -> None:
    quick = ["--quick"] if world.n % 3 else []   # every third round re-reads every layer's files too
    res = world.cli("system", "check", *quick)
    assert res.code == 0 and "0 damaged, 0 orphaned" in res.out, f"after round {world.n}: {res.out}{res.err}"
    listing = _listing(world.cli)
    for tag, image_id in world.tags.items():
        assert tag in listing, f"committed tag {tag} lost after round {world.n}"
        if image_id:
            assert listing[tag] == image_id, f"{tag} moved after round {world.n}"
        world.tags[tag] = listing[tag]
    for tag in world.gone:
        assert tag not in listing, f"removed tag {tag} came back after round {world.n}"
    for tag in set(listing) - set(world.tags):   # a killed command may have finished: it is complete
        world.tags[tag] = listing[tag]


def _world(tmp_path: Path, busybox_tar: Path, driver: str) -> World:
    cli = Lamina(tmp_path / "root", driver)
    cli.ok("import", str(busybox_tar), "saved:latest", env={"SOURCE_DATE_EPOCH": "0"})
    archive = tmp_path / "saved.tar"
    cli.ok("save", "-o", str(archive), "saved:latest")
    cli.ok("rmi", "saved:latest")
    return World(cli=cli, busybox_tar=busybox_tar, archive=archive)


def test_sigkill_at_random_points_short(tmp_path: Path, busybox_tar: Path):
    world = _world(tmp_path, busybox_tar, "copy")
    rng = random.Random(7)
    deadline = time.monotonic() + 45
    while world.kills < 20 and time.monotonic() < deadline:
        _round(world, rng, max_delay=1.0)
    world.n = 0
    _verify(world)
    assert world.kills >= 10, f"only {world.kills} commands were killed"


@pytest.mark.slow
@pytest.mark.parametrize("driver", ["copy", pytest.param("overlay", marks=pytest.mark.skipif(
    probes.overlay() is not None, reason=str(probes.overlay())))])
def test_sigkill_at_random_points_long(tmp_path: Path, busybox_tar: Path, driver: str):
    world = _world(tmp_path, busybox_tar, driver)
    rng = random.Random(1234)
    while world.kills < 200:
        _round(world, rng, max_delay=1.0)
    world.n = 0
    _verify(world)


# ---------------------------------------------------------------------- concurrency
WORKER = """
import subprocess, sys, json
root, driver, tar, me, rounds = sys.argv[1:6]
def lamina(*args):
    cmd = [sys.executable, "-m", "lamina", "--root", root, "--storage-driver", driver, *args]
    return subprocess.run(cmd, capture_output=True, text=True).returncode
log = []
for k in range(int(rounds)):
    tag = f"w{me}:{k}"
    log.append(["import", tag, lamina("import", "-c", f"ENV W={me}", tar, tag)])
    log.append(["tag", f"w{me}:alias{k}", lamina("tag", tag, f"w{me}:alias{k}")])
    if k % 2:
        log.append(["rmi", f"w{me}:alias{k - 1}", lamina("rmi", f"w{me}:alias{k - 1}")])
        log.append(["rmi", f"w{me}:{k - 1}", lamina("rmi", f"w{me}:{k - 1}")])
print(json.dumps(log))
"""


def test_concurrent_processes_keep_every_tag(tmp_path: Path, busybox_tar: Path):
    import json
    cli = Lamina(tmp_path / "root", "copy")
    cli.ok("images")
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(cli.root), "copy", str(busybox_tar), str(i), "4"],
                              stdout=subprocess.PIPE, text=True) for i in range(3)]
    logs = [json.loads(p.communicate(timeout=240)[0]) for p in procs]
    failed = [entry for log in logs for entry in log if entry[2] != 0]
    assert failed == []
    expected = set()
    for log in logs:
        for op, tag, _ in log:
            (expected.discard if op == "rmi" else expected.add)(tag)
    listing = set(_listing(cli))
    assert listing == expected
    res = cli("system", "check")
    assert res.code == 0 and "0 damaged, 0 orphaned" in res.out, res.out
