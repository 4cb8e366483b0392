"""container.manager: a ``run --rm`` whose CLI died after the exit is finished by reconciliation (no root)."""

from __future__ import annotations

import pytest

from lamina.container.manager import ContainerManager, CreateRequest
from lamina.container.model import State
from lamina.container.ocispec import HostFacts, RunOptions
from lamina.container.store import ContainerStore
from lamina.container.volumes import VolumeStore
from lamina.driver.copy import CopyDriver
from lamina.testing.runtime import FakeRuntime


@pytest.fixture
def manager(tmp_path):
    driver = CopyDriver(tmp_path / "storage")
    driver.create("base", None)
    runtime = FakeRuntime()
    return ContainerManager(store=ContainerStore(tmp_path / "containers"),
                            volumes=lambda: VolumeStore(tmp_path / "vols"),
                            driver=lambda: driver, runtime=lambda: runtime, root=tmp_path,
                            run_dir=tmp_path / "run", driver_name=lambda: "copy",
                            host=HostFacts(hard_limits={}, hostname="h"))


def _exited(manager, *, auto_remove, mounted):
    c = manager.create(CreateRequest(image_id="sha256:" + "1" * 64, image_name="img",
                                     image_config={"Cmd": ["/bin/sh"]}, parent_layer_id="base",
                                     options=RunOptions(), auto_remove=auto_remove))
    manager.update_state(c.id, status=State.EXITED, pid=0, exit_code=0, mounted=mounted)
    return c


def test_reconcile_removes_an_exited_rm_container_left_mounted(manager):
    c = _exited(manager, auto_remove=True, mounted=True)
    manager.reconcile()
    assert manager.store.ids() == [] and not manager.driver.exists(c.layer_id)


def test_reconcile_only_clears_the_mount_mark_without_rm(manager):
    c = _exited(manager, auto_remove=False, mounted=True)
    manager.reconcile()
    assert manager.get(c.id)[1].extra["mounted"] is False


def test_reconcile_keeps_finished_containers(manager):
    kept = _exited(manager, auto_remove=True, mounted=False)
    manager.reconcile()
    assert manager.store.ids() == [kept.id]


def test_volumes_may_be_a_factory_used_on_first_need(manager):
    assert isinstance(manager.volumes, VolumeStore) and manager.volumes is manager.volumes


def _created_by_a_run(manager, *, auto_remove, starter):
    c = manager.create(CreateRequest(image_id="sha256:" + "1" * 64, image_name="img",
                                     image_config={"Cmd": ["/bin/sh"]}, parent_layer_id="base",
                                     options=RunOptions(), auto_remove=auto_remove), keep_mounted=True)
    if starter is not None:
        manager.update_state(c.id, starter=starter)
    return c


def test_a_run_killed_before_the_start_is_undone(manager):
    """The CLI that created the container for ``run`` died before starting it: no one else will."""
    gone = _created_by_a_run(manager, auto_remove=True, starter="999999999:1")
    kept = _created_by_a_run(manager, auto_remove=False, starter="999999999:1")
    live = _created_by_a_run(manager, auto_remove=True, starter=None)   # this process: still starting it
    assert manager.get(kept.id)[1].extra["mounted"] is True
    manager.reconcile()
    assert sorted(manager.store.ids()) == sorted([kept.id, live.id])
    assert not manager.driver.exists(gone.layer_id)
    state = manager.get(kept.id)[1]
    assert state.status is State.CREATED and state.extra["mounted"] is False and state.extra["starter"] is None
    assert manager.get(live.id)[1].extra["mounted"] is True
