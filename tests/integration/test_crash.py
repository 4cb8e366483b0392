"""Crash and concurrency safety, proven: SIGKILL lamina at random points, then ``system check`` must be clean.

Each round runs one CLI command in a subprocess and kills it with SIGKILL after a random delay
drawn from the time that command takes when it is left alone (learnt as the run goes), so most
kills land while it works. The commands come in families:
- core: import, load, tag and rmi;
- build: ``build`` of a small Dockerfile with an ARG-dependent RUN (real crun) and a COPY, so
  every round runs both steps; now and then an rmi of an earlier build;
- commit: ``commit c img:N`` of a stopped container whose rw layer holds ``/f``; now and then an rmi;
- pull: ``pull`` of an image pushed once to a loopback docker-registry, into a root that is fresh
  (the image was removed by an rmi round) or partial (a killed pull left blobs behind).
After every round it asserts:
- ``system check`` (after start-up recovery, which the check process itself runs) finds no
  damage and no orphans: no image is half-visible (every listed image has its config, manifest,
  layer rows, driver directories and verified blobs, and its files match its diffIDs);
- nothing is left mounted under the root and no build container (crun state, bundle) is left;
- nothing committed earlier was lost: every tag whose command exited 0 still names the same
  image, and every tag whose rmi exited 0 is gone.
The short runs (a few kills per family) are in the default suite; the long run (>= 200 kills,
every family available mixed, on the copy and the overlay driver) is marked slow.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lamina.testing import probes
from lamina.testing import registry as testreg
from lamina.testing.cli import Lamina

pytest_plugins = ["registry_fixtures"]

LAMINA = [sys.executable, "-m", "lamina"]
DOCKERFILE = "FROM saved\nARG N=0\nRUN echo $N > /n && mkdir -p /d\nCOPY f.txt /d/f.txt\n"
needs_crun = pytest.mark.skipif(probes.crun() is not None, reason=str(probes.crun()))
needs_overlay = pytest.mark.skipif(probes.overlay() is not None, reason=str(probes.overlay()))
needs_registry = pytest.mark.skipif(probes.registry() is not None, reason=str(probes.registry()))


@dataclass
class World:
    """What must hold after every round: tag -> image id for committed names, and removed tags."""

    cli: Lamina
    busybox_tar: Path
    archive: Path
    families: tuple[str, ...] = ("core",)
    protected: frozenset[str] = frozenset()   # tags a family needs (a base image): never removed
    context: Path | None = None               # build context
    remote: str | None = None                 # pushed image to pull
    tags: dict[str, str] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    kills: Counter[str] = field(default_factory=Counter)
    runs: Counter[str] = field(default_factory=Counter)
    done: Counter[str] = field(default_factory=Counter)   # exited 0
    took: dict[str, float] = field(default_factory=dict)   # command -> seconds when left alone
    addresses: frozenset[str] = field(default_factory=lambda: _addresses())   # bridge IPs held before
    n: int = 0

    @property
    def killed(self) -> int:
        return sum(self.kills.values())


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


# ---------------------------------------------------------------------- operations per family
Op = tuple[list[str], str, str]   # (args, kind: "add" or "rmi", tag)


def _removable(world: World, prefix: str) -> list[str]:
    return sorted(t for t in _listing(world.cli) if t.startswith(prefix) and t not in world.protected)


def _core(world: World, rng: random.Random) -> Op:
    existing = _removable(world, "")
    choice = rng.random()
    if existing and choice < 0.25:
        return ["rmi", existing[0]], "rmi", existing[0]
    if existing and choice < 0.35:
        tag = f"copy:{world.n}"
        return ["tag", rng.choice(existing), tag], "add", tag
    if choice < 0.55:
        return ["load", "-i", str(world.archive)], "add", "saved:latest"
    tag = f"crash:{world.n}"
    return ["import", "-c", f"ENV ROUND={world.n}", str(world.busybox_tar), tag], "add", tag


def _build(world: World, rng: random.Random) -> Op:
    earlier = _removable(world, "built:")
    if earlier and rng.random() < 0.2:
        return ["rmi", earlier[0]], "rmi", earlier[0]
    assert world.context is not None
    tag = f"built:{world.n}"
    return ["build", "-q", "--build-arg", f"N={world.n}", "-t", tag, str(world.context)], "add", tag


def _commit(world: World, rng: random.Random) -> Op:
    earlier = _removable(world, "img:")
    if earlier and rng.random() < 0.2:
        return ["rmi", earlier[0]], "rmi", earlier[0]
    tag = f"img:{world.n}"
    return ["commit", "c", tag], "add", tag


def _pull(world: World, rng: random.Random) -> Op:
    assert world.remote is not None
    if world.remote in _listing(world.cli):   # pulled: remove it, so the next pull starts fresh
        return ["rmi", world.remote], "rmi", world.remote
    return ["pull", world.remote], "add", world.remote


FAMILIES: dict[str, Callable[[World, random.Random], Op]] = {
    "core": _core, "build": _build, "commit": _commit, "pull": _pull}


def _operation(world: World, rng: random.Random) -> Op:
    world.n += 1
    return FAMILIES[rng.choice(world.families)](world, rng)


# ---------------------------------------------------------------------- one round
def _delay(world: World, command: str, rng: random.Random) -> float:
    """When to kill: in the time the command takes alone, past the first part (python start-up).

    Relative, not absolute: on a fast machine a whole ``tag`` takes under 0.15 s.
    """
    took = world.took.get(command, 1.0)
    return rng.uniform(0.4 * took, 1.1 * took)


def _round(world: World, rng: random.Random) -> None:
    args, kind, tag = _operation(world, rng)
    started = time.monotonic()
    proc = _spawn(world, args)
    try:
        proc.wait(timeout=_delay(world, args[0], rng))
        world.took[args[0]] = time.monotonic() - started
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        world.kills[args[0]] += 1
    world.runs[args[0]] += 1
    if proc.returncode == 0:
        world.done[args[0]] += 1
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


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve()) + "/"
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        points = [line.split()[4].replace("\\040", " ") for line in f]
    return [p for p in points if p.startswith(prefix)]


def _leftovers(root: Path) -> list[str]:
    """Mounts under the root and build containers (bundles, crun state) nobody is running."""
    left = [f"mount {p}" for p in _mounts_under(root)]
    for sub in ("run/build", "run/build-runtime"):
        base = root / sub
        if base.is_dir():
            left += [f"{sub}/{e.name}" for e in base.iterdir()]
    return left


def _addresses() -> frozenset[str]:
    """Bridge addresses held by build steps (a killed RUN step must not keep one). The allocations are
    host-wide: containers other work runs meanwhile hold addresses too, under 64-hex ids, not build-…"""
    from lamina.network.bridge import STATE_DIR
    ipam = STATE_DIR / "ipam" / "lamina"
    held = set()
    for path in ipam.iterdir() if ipam.is_dir() else ():
        with contextlib.suppress(OSError):
            if path.name[0].isdigit() and path.read_text().startswith("build-"):
                held.add(path.name)
    return frozenset(held)


def _verify(world: World) -> None:
    quick = ["--quick"] if world.n % 3 else []   # every third round re-reads every layer's files too
    res = world.cli("system", "check", *quick)
    assert res.code == 0 and "0 damaged, 0 orphaned" in res.out, f"after round {world.n}: {res.out}{res.err}"
    left = _leftovers(world.cli.root)
    assert left == [], f"left behind after round {world.n}: {left}"
    leaked = _addresses() - world.addresses
    assert not leaked, f"bridge addresses still held after round {world.n}: {sorted(leaked)}"
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


# ---------------------------------------------------------------------- worlds
def _world(tmp_path: Path, busybox_tar: Path, driver: str, families: tuple[str, ...] = ("core",),
           remote: str | None = None) -> World:
    cli = Lamina(tmp_path / "root", driver)
    cli.ok("import", str(busybox_tar), "saved:latest", env={"SOURCE_DATE_EPOCH": "0"})
    archive = tmp_path / "saved.tar"
    cli.ok("save", "-o", str(archive), "saved:latest")
    world = World(cli=cli, busybox_tar=busybox_tar, archive=archive, families=families, remote=remote)
    if "build" in families or "commit" in families:
        world.protected = frozenset({"saved:latest"})
        world.tags["saved:latest"] = ""
    else:
        cli.ok("rmi", "saved:latest")
    if "build" in families:
        world.context = tmp_path / "context"
        world.context.mkdir()
        (world.context / "Dockerfile").write_text(DOCKERFILE)
        (world.context / "f.txt").write_text("copied\n")
    if "commit" in families:
        cli.ok("run", "--name", "c", "saved", "sh", "-c", "echo x > /f")
    return world


def _pushed(tmp_path: Path, busybox_tar: Path, host: str) -> str:
    """The name of an image pushed once to the registry (busybox, one layer)."""
    src = Lamina(tmp_path / "src", "copy")
    src.ok("import", "-c", 'CMD ["/bin/sh"]', str(busybox_tar), "bb", env={"SOURCE_DATE_EPOCH": "0"})
    name = f"{host}/lamina/crash:{os.getpid()}"
    src.ok("tag", "bb", name)
    src.ok("push", name)
    return name


def _run_until(world: World, rng: random.Random, kills: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while world.killed < kills and time.monotonic() < deadline:
        _round(world, rng)
    world.n = 0
    _verify(world)


# ---------------------------------------------------------------------- the runs
def test_sigkill_core_short(tmp_path: Path, busybox_tar: Path) -> None:
    world = _world(tmp_path, busybox_tar, "copy")
    _run_until(world, random.Random(7), kills=15, seconds=30)
    assert world.killed >= 8, f"only {world.killed} commands were killed: {world.runs}"


@needs_crun
def test_sigkill_build_short(tmp_path: Path, busybox_tar: Path) -> None:
    world = _world(tmp_path, busybox_tar, "copy", ("build",))
    _run_until(world, random.Random(11), kills=6, seconds=20)
    assert world.kills["build"] >= 3, f"only {world.kills} commands were killed: {world.runs}"
    assert world.done["build"] >= 1, f"no build ever succeeded: {world.runs}"


@needs_crun
def test_sigkill_commit_short(tmp_path: Path, busybox_tar: Path) -> None:
    world = _world(tmp_path, busybox_tar, "copy", ("commit",))
    _run_until(world, random.Random(13), kills=6, seconds=15)
    assert world.kills["commit"] >= 3, f"only {world.kills} commands were killed: {world.runs}"
    assert world.done["commit"] >= 1, f"no commit ever succeeded: {world.runs}"


@needs_registry
def test_sigkill_pull_short(tmp_path: Path, busybox_tar: Path,
                            registry_server: testreg.RegistryProcess) -> None:
    remote = _pushed(tmp_path, busybox_tar, registry_server.host)
    world = _world(tmp_path, busybox_tar, "copy", ("pull",), remote=remote)
    _run_until(world, random.Random(17), kills=6, seconds=15)
    assert world.kills["pull"] >= 3, f"only {world.kills} commands were killed: {world.runs}"
    assert world.done["pull"] >= 1, f"no pull ever succeeded: {world.runs}"


def _all_families() -> tuple[str, ...]:
    families = ["core"]
    if probes.crun() is None:
        families += ["build", "commit"]
    if probes.registry() is None:
        families.append("pull")
    return tuple(families)


@pytest.mark.slow
@pytest.mark.parametrize("driver", ["copy", pytest.param("overlay", marks=needs_overlay)])
def test_sigkill_at_random_points_long(tmp_path: Path, busybox_tar: Path, driver: str,
                                       request: pytest.FixtureRequest) -> None:
    families = _all_families()
    remote = None
    if "pull" in families:
        remote = _pushed(tmp_path, busybox_tar, request.getfixturevalue("registry_server").host)
    world = _world(tmp_path, busybox_tar, driver, families, remote=remote)
    _run_until(world, random.Random(1234), kills=200, seconds=3600)
    print(f"{driver}: kills {dict(world.kills)} of runs {dict(world.runs)}, exit 0 {dict(world.done)}")
    assert world.killed >= 200, f"only {world.killed} commands were killed: {world.runs}"
    assert all(world.kills[f] for f in ("import", "build", "commit", "pull") if f in world.runs), world.kills


MOUNT_AND_DIE = """
import os, signal, sys
from pathlib import Path
from lamina.engine.config import EngineConfig
from lamina.engine.engine import Engine
engine = Engine(EngineConfig(root=Path(sys.argv[1]), storage_driver="overlay"))
layer = engine.layers.all()[0]
engine.driver.mount(layer.layer_id)
engine.driver.mount(layer.layer_id)
os.kill(os.getpid(), signal.SIGKILL)
"""


@needs_overlay
def test_sigkill_while_a_layer_is_mounted_leaves_no_mount(tmp_path: Path, busybox_tar: Path) -> None:
    """A read-only layer mount (a build's COPY view, check comparing a layer) held by a killed process."""
    cli = Lamina(tmp_path / "root", "overlay")
    cli.ok("import", str(busybox_tar), "bb")
    proc = subprocess.run([sys.executable, "-c", MOUNT_AND_DIE, str(cli.root)], check=False)
    assert proc.returncode == -signal.SIGKILL and _mounts_under(cli.root)
    res = cli("system", "check")   # start-up recovery runs first
    assert res.code == 0 and "0 damaged, 0 orphaned" in res.out, res.out + res.err
    assert _mounts_under(cli.root) == []


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


def test_concurrent_processes_keep_every_tag(tmp_path: Path, busybox_tar: Path) -> None:
    import json
    cli = Lamina(tmp_path / "root", "copy")
    cli.ok("images")
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(cli.root), "copy", str(busybox_tar), str(i), "4"],
                              stdout=subprocess.PIPE, text=True) for i in range(3)]
    logs = [json.loads(p.communicate(timeout=240)[0]) for p in procs]
    failed = [entry for log in logs for entry in log if entry[2] != 0]
    assert failed == []
    expected: set[str] = set()
    for log in logs:
        for op, tag, _ in log:
            (expected.discard if op == "rmi" else expected.add)(tag)
    listing = set(_listing(cli))
    assert listing == expected
    res = cli("system", "check")
    assert res.code == 0 and "0 damaged, 0 orphaned" in res.out, res.out
