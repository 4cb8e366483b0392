"""container.manager over the copy driver and FakeRuntime: create, rm, rollback, reconciliation (no root)."""

from __future__ import annotations

import io
import tarfile

import pytest

from lamina.container.manager import ContainerManager, CreateRequest, init_tar, signal_number
from lamina.container.model import State
from lamina.container.ocispec import HostFacts, RunOptions
from lamina.container.store import ContainerStore
from lamina.container.volumes import VolumeStore, parse_volume
from lamina.driver.copy import CopyDriver
from lamina.errors import ContainerRunning, InvalidOption, InvalidStateTransition, NameInUse
from lamina.testing.runtime import FakeRuntime

HOST = HostFacts(hard_limits={}, hostname="h")


@pytest.fixture
def env(tmp_path):
    driver = CopyDriver(tmp_path / "storage")
    driver.create("base", None)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, mode in (("etc", 0o700), ("srv", 0o755), ("srv/seed", 0o755)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        data = b"root:x:0:0:root:/root:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("srv/seed/file")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"seed"))
    buf.seek(0)
    driver.apply_diff("base", None, buf)
    runtime = FakeRuntime()
    manager = ContainerManager(store=ContainerStore(tmp_path / "containers"), volumes=VolumeStore(tmp_path / "vols"),
                               driver=lambda: driver, runtime=lambda: runtime, root=tmp_path,
                               run_dir=tmp_path / "run", driver_name=lambda: "copy", host=HOST)
    return manager, driver, runtime


def request(**kw) -> CreateRequest:
    base = {"image_id": "sha256:" + "1" * 64, "image_name": "img", "image_config": {"Cmd": ["/bin/sh"],
            "Volumes": {"/srv/seed": {}}}, "parent_layer_id": "base", "options": RunOptions()}
    base.update(kw)
    return CreateRequest(**base)


def test_create_makes_layers_bundle_and_seeded_volume(env):
    manager, driver, _ = env
    c = manager.create(request(name="web", volumes=[parse_volume("/data")]))
    assert driver.exists(c.layer_id) and driver.exists(f"{c.id}-init")
    assert c.path == "/bin/sh" and c.name == "web"
    assert {m.destination for m in c.mounts} == {"/data", "/srv/seed"}
    seeded = next(m for m in c.mounts if m.destination == "/srv/seed")
    assert seeded.anonymous and (manager.volumes.get(seeded.name).mountpoint / "file").read_bytes() == b"seed"
    assert manager.store.bundle(c.id).joinpath("config.json").exists()
    # mount points live in the init layer, so they never show up in diff/commit
    assert manager.driver.changes(c.layer_id, c.init_layer_id) == []
    manager.remove("web", volumes=True)
    assert not driver.exists(c.layer_id) and manager.volumes.list() == []
    assert manager.store.ids() == []


def test_failed_create_leaves_nothing(env):
    manager, driver, _ = env
    manager.create(request(name="one"))
    before = set(driver.layers())
    with pytest.raises(NameInUse):
        manager.create(request(name="one"))
    with pytest.raises(InvalidOption):
        manager.create(request(name="two", options=RunOptions(user="nobody-here")))
    assert set(driver.layers()) == before
    assert len(manager.store.ids()) == 1 and len(manager.volumes.list()) == 1


def test_reconcile_removes_crashed_creation(env):
    manager, driver, _ = env
    lock = manager.store.reserve("f" * 64, "crashed")
    driver.create("f" * 64, "base", writable=True)
    lock.release()
    manager.reconcile()
    assert manager.store.ids() == [] and not driver.exists("f" * 64)
    manager.store.reserve("e" * 64, "again").release()  # the name was released


def test_reconcile_marks_dead_unwatched_container_exited(env):
    manager, _, _ = env
    c = manager.create(request(name="ghost"))
    keep = manager.create(request(name="gone", auto_remove=True))
    for cid in (c.id, keep.id):
        manager.update_state(cid, status=State.RUNNING, pid=2**22 + 1, last_signal=9)
    manager.reconcile()
    state = manager.store.state(c.id)
    assert state.status is State.EXITED and state.exit_code == 137
    assert [x.name for x, _ in manager.list()] == ["ghost"]  # --rm honoured


def test_remove_running_needs_force(env):
    manager, _, _ = env
    c = manager.create(request(name="busy"))
    manager.update_state(c.id, status=State.RUNNING, pid=0)
    with pytest.raises(ContainerRunning):
        manager.remove("busy")


def test_init_tar_copies_image_attributes_and_skips_symlinks(tmp_path):
    view = tmp_path / "view"
    (view / "tmp").mkdir(parents=True)
    (view / "tmp").chmod(0o1777)
    (view / "var").mkdir()
    (view / "var" / "run").symlink_to("/run")
    with tarfile.open(fileobj=init_tar(view, ["/tmp/x", "/var/run/y"], []), mode="r") as tar:
        members = {m.name: m for m in tar}
    assert members["tmp"].mode == 0o1777 and "tmp/x" in members
    assert "var/run" not in members and "var/run/y" not in members
    assert {"etc/hosts", "etc/hostname", "etc/resolv.conf", "proc", "sys", "dev"} <= set(members)


def test_signal_number():
    assert signal_number("SIGTERM") == 15 and signal_number("kill") == 9 and signal_number("2") == 2
    with pytest.raises(InvalidOption):
        signal_number("SIGNOPE")


def _running(manager, runtime, name):
    c = manager.create(request(name=name))
    runtime.create(c.id, manager.store.bundle(c.id), pid_file=manager.store.bundle(c.id) / "pid")
    runtime.start(c.id)
    manager.update_state(c.id, status=State.RUNNING, pid=0)
    return c


def test_pause_unpause_follow_docker_states(env):
    manager, _, runtime = env
    c = _running(manager, runtime, "frozen")
    manager.pause("frozen")
    assert manager.store.state(c.id).status is State.PAUSED and runtime.state(c.id).status.value == "paused"
    with pytest.raises(InvalidStateTransition):
        manager.pause("frozen")
    manager.unpause("frozen")
    assert manager.store.state(c.id).status is State.RUNNING
    with pytest.raises(InvalidStateTransition):
        manager.unpause("frozen")


def test_paused_block_freezes_only_a_running_container(env):
    manager, _, runtime = env
    c = _running(manager, runtime, "snap")
    with manager.paused("snap"):
        assert manager.store.state(c.id).status is State.PAUSED
    assert manager.store.state(c.id).status is State.RUNNING
    idle = manager.create(request(name="idle"))
    with manager.paused("idle"):
        assert manager.store.state(idle.id).status is State.CREATED
    assert [call.verb for call in runtime.calls if call.container_id == idle.id] == []


class _Network:
    """Records the detaches it is asked for (the bridge needs root and CNI)."""

    def __init__(self) -> None:
        self.detached: list[tuple] = []

    def detach(self, container_id, netns, attachment, *, net=None, name=None) -> None:
        self.detached.append((container_id, attachment, net.name if net else None, name))
        netns.unlink(missing_ok=True)

    def remove_interface(self, container_id, netns, attachment) -> None:
        self.detached.append((container_id, attachment.ifname, attachment.network.name, attachment.name))


def test_crash_before_the_attachment_was_recorded_undoes_the_right_network(env, tmp_path, monkeypatch):
    manager, _, _ = env
    from lamina.network import networks
    monkeypatch.setattr(networks, "_host_routes", lambda: [])
    networks.NetworkStore(tmp_path / "networks").create("appnet")
    c = manager.create(request(name="api", options=RunOptions(network="bridge", network_name="appnet")))
    fake = _Network()
    monkeypatch.setitem(manager.__dict__, "network", fake)
    netns = manager.netns_path(c.id)
    netns.parent.mkdir(parents=True, exist_ok=True)
    netns.touch()   # CNI ADD ran, the record update did not
    manager.disconnect(c.id, manager.store.state(c.id))
    assert fake.detached == [(c.id, None, "appnet", "api")]
    assert not netns.exists()


def test_a_connected_network_whose_add_was_not_recorded_is_undone_too(env, tmp_path, monkeypatch):
    manager, _, _ = env
    from lamina.container.netconnect import _save
    from lamina.network import networks
    monkeypatch.setattr(networks, "_host_routes", lambda: [])
    networks.NetworkStore(tmp_path / "networks").create("extra")
    c = manager.create(request(name="api", options=RunOptions(network="bridge")))
    _save(manager, c, [{"name": "extra", "aliases": [], "ifname": "eth1"}])
    fake = _Network()
    monkeypatch.setitem(manager.__dict__, "network", fake)
    netns = manager.netns_path(c.id)
    netns.parent.mkdir(parents=True, exist_ok=True)
    netns.touch()
    manager.disconnect(c.id, manager.store.state(c.id))
    assert fake.detached[0] == (c.id, "eth1", "extra", "api")   # before the first network goes
    assert fake.detached[1][:2] == (c.id, None)


def test_settled_marks_let_reconciliation_skip_stopped_containers(env):
    manager, _, _ = env
    from lamina._internal.records import replace as rec_replace
    c = manager.create(request(name="calm"))
    assert c.id in manager.store.settled()   # created, not mounted: nothing to heal
    manager._begin_start(c.id)
    assert c.id not in manager.store.settled() and manager.store.state(c.id).extra["mounted"] is True
    manager.update_state(c.id, mounted=False)
    manager.finalize(c.id)
    assert c.id in manager.store.settled()
    # a record that says "running" under a settled mark is not looked at ...
    lying = rec_replace(manager.store.state(c.id), status=State.RUNNING, pid=2**22 - 1)
    manager.store.save_state(c.id, lying)
    manager.reconcile()
    assert manager.store.state(c.id).status is State.RUNNING
    # ... and is healed once unmarked (a start removes the mark before anything else)
    manager.store.unsettle(c.id)
    manager.reconcile()
    assert manager.store.state(c.id).status is not State.RUNNING
    manager.remove(c.id)
    assert c.id not in manager.store.settled()
