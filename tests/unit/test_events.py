"""The daemonless event log: append, read back, rotation, following across a rename."""

from __future__ import annotations

import threading
import time

from lamina._internal import events


def test_emit_and_read_back(tmp_path):
    events.emit(tmp_path, "container", "create", "abc", {"name": "web"})
    events.emit(tmp_path, "image", "pull", "sha256:1")
    got = list(events.read(tmp_path))
    assert [(e["Type"], e["Action"], e["Actor"]["ID"]) for e in got] == [
        ("container", "create", "abc"), ("image", "pull", "sha256:1")]
    assert got[0]["Actor"]["Attributes"] == {"name": "web"} and got[0]["timeNano"] >= got[0]["time"] * 10**9


def test_rotation_keeps_the_previous_file_and_order(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_BYTES", 600)
    for i in range(12):
        events.emit(tmp_path, "volume", "create", f"v{i}")
    assert (tmp_path / "events.1").exists()
    ids = [e["Actor"]["ID"] for e in events.read(tmp_path)]
    assert ids == sorted(ids, key=lambda v: int(v[1:])) and ids[-1] == "v11"


def test_follow_sees_new_events_across_a_rotation(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_BYTES", 400)
    events.emit(tmp_path, "volume", "create", "old")
    done = threading.Event()
    seen: list[str] = []

    def follow() -> None:
        for event in events.read(tmp_path, follow=True, stop=done.is_set, poll=0.01):
            seen.append(str(event["Actor"]["ID"]))

    thread = threading.Thread(target=follow)
    thread.start()
    time.sleep(0.05)
    for i in range(20):
        events.emit(tmp_path, "volume", "create", f"n{i}")
        time.sleep(0.005)
    time.sleep(0.1)
    done.set()
    thread.join(5)
    assert seen == ["old", *(f"n{i}" for i in range(20))]


def test_an_unwritable_root_drops_the_event(tmp_path):
    events.emit(tmp_path / "missing", "container", "create", "x")   # no error
    assert list(events.read(tmp_path / "missing")) == []
