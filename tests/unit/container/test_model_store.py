"""container.model and container.store: states, records, names, resolution, crash markers (no root)."""

from __future__ import annotations

import pytest

from lamina.container.model import ALLOWED, Container, ContainerState, MountRecord, State, check_transition, random_name
from lamina.container.store import ContainerStore, validate_name
from lamina.errors import ContainerNotFound, InvalidArgument, InvalidOption, InvalidStateTransition, NameInUse

CID = "a" * 64
CID2 = "ab" + "c" * 62


def record(cid: str = CID, name: str = "web") -> Container:
    return Container(id=cid, name=name, image_id="sha256:" + "1" * 64, image_name="busybox", layer_id=cid,
                     init_layer_id=f"{cid}-init", parent_layer_id="p", created="2024-01-01T00:00:00Z",
                     path="sh", args=("-c", "true"), env=("PATH=/bin",), hostname="h", options={"tty": False},
                     image_config={}, mounts=(MountRecord(type="volume", destination="/d", name="v"),))


def test_transitions():
    check_transition("x", State.CREATED, State.RUNNING, "start")
    with pytest.raises(InvalidStateTransition):
        check_transition("x", State.DEAD, State.RUNNING, "start")
    assert all(State.DEAD not in ALLOWED or s in ALLOWED for s in State)
    assert ContainerState(status=State.RUNNING).running and not ContainerState(status=State.EXITED).running


def test_record_round_trip():
    c = record()
    assert Container.from_json(c.to_json()) == c
    assert c.command == "sh -c true"
    st = ContainerState(status=State.EXITED, exit_code=3, extra={"mounted": True})
    assert ContainerState.from_json(st.to_json()) == st


def test_random_names_look_like_docker():
    name = random_name()
    left, right = name.split("_", 1)
    assert left.isalpha() and right.isalpha() and name != "boring_wozniak"


def test_validate_name():
    assert validate_name("/web-1") == "web-1"
    with pytest.raises(InvalidOption):
        validate_name("bad name")


def test_reserve_commit_resolve(tmp_path):
    store = ContainerStore(tmp_path / "containers")
    lock = store.reserve(CID, "web")
    assert store.incomplete(CID)
    with pytest.raises(ContainerNotFound):
        store.resolve("web")  # not committed yet
    store.commit(record(), ContainerState())
    lock.release()
    assert not store.incomplete(CID)
    assert store.resolve("web").id == CID
    assert store.resolve("/web").id == CID
    assert store.resolve("aaaa").id == CID
    assert store.resolve(CID).id == CID
    with pytest.raises(ContainerNotFound):
        store.resolve("nope")


def test_name_in_use_and_stale_claims(tmp_path):
    store = ContainerStore(tmp_path / "containers")
    store.reserve(CID, "web").release()
    store.commit(record(), ContainerState())
    with pytest.raises(NameInUse) as info:
        store.reserve(CID2, "web")
    assert '"/web"' in str(info.value) and CID in str(info.value)
    assert not (store.root / CID2).exists()
    store.delete(CID, "web")
    store.reserve(CID2, "web").release()  # the name is free again


def test_ambiguous_prefix(tmp_path):
    store = ContainerStore(tmp_path / "containers")
    for cid, name in ((CID, "one"), ("a" * 63 + "b", "two")):
        store.reserve(cid, name).release()
        store.commit(record(cid, name), ContainerState())
    with pytest.raises(InvalidArgument):
        store.resolve("aaa")


def test_stale_staging_found_only_when_unlocked(tmp_path):
    store = ContainerStore(tmp_path / "containers")
    lock = store.reserve(CID, "web")
    assert store.stale_staging() == []
    lock.release()
    (store.root / f".new-{CID2}").mkdir()
    assert [p.name for p in store.stale_staging()] == [f".new-{CID2}"]


def test_state_save_and_watch(tmp_path):
    store = ContainerStore(tmp_path / "containers")
    store.reserve(CID, "web").release()
    store.commit(record(), ContainerState())
    store.save_state(CID, ContainerState(status=State.RUNNING, pid=5))
    assert store.state(CID).pid == 5
    assert not store.watched(CID)
    from lamina._internal.locking import FileLock
    with FileLock(store.monitor_lock_path(CID)):
        assert store.watched(CID)


def test_rename_claim_left_by_a_crash_is_taken_over(tmp_path):
    from lamina.container.model import ContainerState
    from lamina.container.store import ContainerStore
    store = ContainerStore(tmp_path)
    cid, other = "a" * 64, "b" * 64
    for container_id, name in ((cid, "kept"), (other, "other")):
        store.reserve(container_id, name).release()
        store.commit(record(container_id, name), ContainerState())
    (store.names / "wanted").write_text(cid)     # a rename of `kept` that died before rewriting the record
    renamed = store.rename(store.load(other), "wanted")
    assert renamed.name == "wanted" and store.resolve("wanted").id == other
    assert store.resolve("kept").id == cid and not (store.names / "other").exists()
