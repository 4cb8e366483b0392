"""CacheKey digests, the on-disk step store, the file-hash memo and miss explanations."""

from __future__ import annotations

import os
from pathlib import Path

from lamina.build.backend import LayerRef
from lamina.build.cache import CacheHit, CacheKey, CacheStore, FileHasher, explain_difference


def test_key_is_versioned_and_order_independent() -> None:
    a = CacheKey.make("p", "RUN", {"x": "1", "y": "2"})
    b = CacheKey.make("p", "RUN", {"y": "2", "x": "1"})
    assert a.digest == b.digest and a.digest.startswith("sha256:")
    assert CacheKey(parent="p", kind="RUN", inputs=a.inputs, version=2).digest != a.digest
    assert CacheKey.make("q", "RUN", {"x": "1", "y": "2"}).digest != a.digest


def test_store_survives_reopen(tmp_path: Path) -> None:
    key = CacheKey.make("p", "COPY", {"files": "d"})
    layer = LayerRef(chain_id="sha256:" + "a" * 64, diff_id="sha256:" + "b" * 64)
    store = CacheStore(tmp_path / "c.db")
    assert store.lookup(key) is None
    store.record(key, CacheHit(layer=layer, parent_chain="x"))
    store.close()
    again = CacheStore(tmp_path / "c.db")
    assert again.lookup(key) == CacheHit(layer=layer, parent_chain="x")
    assert again.chain_ids() == [layer.chain_id]
    assert again.clear() == 1 and again.lookup(key) is None


def test_explain_names_the_changed_file_and_arg(tmp_path: Path) -> None:
    store = CacheStore(tmp_path / "c.db")
    old = CacheKey.make("p", "COPY", {"files": "1", "arg:A": "x"})
    store.record(old, CacheHit(layer=None, parent_chain=""), {"file:a": "1", "file:b": "1"})
    new = CacheKey.make("p", "COPY", {"files": "2", "arg:A": "y"})
    text = store.explain(new, {"file:a": "1", "file:b": "2", "file:c": "3"})
    assert "file changed: b" in text and "file added: c" in text and "build arg A changed: 'x' -> 'y'" in text
    assert "earlier step" in store.explain(CacheKey.make("unknown", "RUN", {}), {})


def test_explain_base_image() -> None:
    text = explain_difference({"image": "bb", "image_id": "sha256:1"}, {"image": "bb", "image_id": "sha256:2"})
    assert text == "base image bb changed: sha256:1 -> sha256:2"


def test_file_hasher_memoises_by_stat(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"one")
    store = CacheStore(tmp_path / "c.db")
    hasher = FileHasher(store)
    first = hasher.digest(str(path), os.stat(path))
    hasher.save()
    again = FileHasher(store)
    assert again.digest(str(path), os.stat(path)) == first and again.hashed_bytes == 0
    path.write_bytes(b"two")
    assert again.digest(str(path), os.stat(path)) != first


# ---------------------------------------------------------------- whole-build records (the fast path)
def test_context_manifest_sees_writes_not_reads_and_skips_ignored(tmp_path: Path) -> None:
    from lamina.build.record import context_manifest
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"one")
    (tmp_path / "junk.log").write_bytes(b"x")
    (tmp_path / ".dockerignore").write_text("*.log\n")
    first = context_manifest(tmp_path)
    (tmp_path / "d" / "f").read_bytes()
    assert context_manifest(tmp_path) == first
    (tmp_path / "junk.log").write_bytes(b"changed")       # ignored: the build cannot see it
    assert context_manifest(tmp_path) == first
    st = os.stat(tmp_path / "d" / "f")
    (tmp_path / "d" / "f").write_bytes(b"two")             # same size, mtime put back: ctime still moves
    os.utime(tmp_path / "d" / "f", ns=(st.st_atime_ns, st.st_mtime_ns))
    second = context_manifest(tmp_path)
    assert second != first
    (tmp_path / "d" / "new").write_bytes(b"")
    assert context_manifest(tmp_path) not in (first, second)


def test_build_key_covers_flags_and_dockerfile() -> None:
    from lamina.build.record import build_key
    base = build_key(dockerfile="FROM a\n", dockerfile_name="Dockerfile", context="c", flags={"target": None})
    assert base == build_key(dockerfile="FROM a\n", dockerfile_name="Dockerfile", context="c", flags={"target": None})
    assert base != build_key(dockerfile="FROM b\n", dockerfile_name="Dockerfile", context="c", flags={"target": None})
    assert base != build_key(dockerfile="FROM a\n", dockerfile_name="Dockerfile", context="c", flags={"target": "x"})
    assert base != build_key(dockerfile="FROM a\n", dockerfile_name="Dockerfile", context="d", flags={"target": None})


def test_recorder_replays_steps_as_cached_and_store_round_trips(tmp_path: Path) -> None:
    from lamina.build.progress import PlainRenderer, Progress, ProgressEvent
    from lamina.build.record import Recorder, RecordStore, export_vertex, replay
    seen: list[ProgressEvent] = []
    recorder = Recorder(seen.append)
    progress = Progress(recorder)
    first = progress.vertex("[internal] load build definition from Dockerfile")
    first.status("transferring dockerfile: 10B done")
    first.done()
    progress.warning("early warning")
    step = progress.vertex("[2/2] RUN make")
    step.output(b"compiling\n")
    step.done()
    export_vertex(progress, "sha256:" + "1" * 64, ["docker.io/library/a:1"])
    progress.warning("unused arg")
    record = recorder.record("sha256:" + "1" * 64, {"base": "sha256:" + "2" * 64}, {step.number})
    assert len(seen) == 13 and record.steps == 1 and record.warnings == ("unused arg",)
    store = RecordStore(tmp_path / "cache.db")
    store.save("k", record)
    store.close()
    again = RecordStore(tmp_path / "cache.db").lookup("k")
    assert again == record
    out: list[ProgressEvent] = []
    replay(again, Progress(out.append), ["docker.io/library/b:2"])
    renderer = PlainRenderer()
    lines = [line for event in out for line in renderer.render(event)]
    assert lines == ["#1 [internal] load build definition from Dockerfile", "#1 transferring dockerfile: 10B done",
                     "#1 DONE 0.0s", "WARNING: early warning", "", "#2 [2/2] RUN make", "#2 CACHED", "",
                     "#3 exporting to image", "#3 exporting layers done",
                     "#3 writing image sha256:" + "1" * 64 + " done", "#3 naming to docker.io/library/b:2 done",
                     "#3 DONE 0.0s", "WARNING: unused arg"]


def test_clear_forgets_build_records(tmp_path: Path) -> None:
    from lamina.build.record import BuildRecord, RecordStore
    records = RecordStore(tmp_path / "c.db")
    records.save("k", BuildRecord(image_id="sha256:" + "1" * 64, bases=(), vertices=()))
    store = CacheStore(tmp_path / "c.db")
    store.clear()
    assert records.lookup("k") is None
