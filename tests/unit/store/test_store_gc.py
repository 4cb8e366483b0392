"""Tests for lamina.store.gc: mark and sweep from roots, dry runs, locking, staging safety."""

from __future__ import annotations

import threading

from store_graphs import graph_digests, make_index, make_manifest

from lamina._internal.locking import FileLock, try_lock
from lamina.digest import Digest
from lamina.store.gc import GCResult, gc, mark


def all_digests(store):
    return {str(d) for d in store.list()}


def test_gc_keeps_everything_reachable_and_removes_the_rest(store):
    m1 = make_manifest(store, "a")
    m2 = make_manifest(store, "b")
    index = make_index(store, [m1, m2])
    orphan_manifest = make_manifest(store, "orphan")
    junk = store.put_bytes(b"junk")
    garbage = graph_digests(store, orphan_manifest) | {str(junk.digest)}
    freed = sum(store.stat(Digest.parse(d)) for d in garbage)

    result = gc(store, [Digest.parse(index["digest"])])

    assert {str(d) for d in result.removed} == garbage
    assert result.freed == freed
    assert all_digests(store) == {index["digest"]} | graph_digests(store, m1) | graph_digests(store, m2)


def test_gc_from_a_manifest_root(store):
    m = make_manifest(store, "x")
    other = make_manifest(store, "y")
    gc(store, [Digest.parse(m["digest"])])
    assert all_digests(store) == graph_digests(store, m)
    assert not store.exists(Digest.parse(other["digest"]))


def test_dry_run_reports_without_deleting(store):
    m = make_manifest(store, "x")
    junk = store.put_bytes(b"junk")
    before = all_digests(store)
    result = gc(store, [Digest.parse(m["digest"])], dry_run=True)
    assert result == GCResult(removed=[junk.digest], freed=junk.size)
    assert all_digests(store) == before


def test_walk_roots_false_keeps_only_the_roots(store):
    m = make_manifest(store, "x")
    gc(store, [Digest.parse(m["digest"])], walk_roots=False)
    assert all_digests(store) == {m["digest"]}


def test_no_roots_removes_everything_and_missing_roots_are_skipped(store):
    make_manifest(store, "x")
    result = gc(store, [Digest.of_bytes(b"never stored")])
    assert len(result.removed) == 4
    assert all_digests(store) == set()


def test_gc_tolerates_missing_blobs_in_the_graph(store):
    m = make_manifest(store, "x")
    layer = sorted(graph_digests(store, m) - {m["digest"]})[0]
    store.delete(Digest.parse(layer))
    junk = store.put_bytes(b"junk")
    assert gc(store, [Digest.parse(m["digest"])]).removed == [junk.digest]


def test_gc_holds_the_store_lock_exclusively_while_sweeping(store, monkeypatch):
    store.put_bytes(b"junk")
    held = []
    real_delete = store.delete

    def delete(digest):
        held.append(try_lock(store.lock_path) is None)
        return real_delete(digest)

    monkeypatch.setattr(store, "delete", delete)
    gc(store, [])
    assert held == [True]
    lock = try_lock(store.lock_path)
    assert lock is not None  # released afterwards
    lock.release()


def test_commit_waits_for_a_running_gc(store):
    writer = store.writer()
    writer.write(b"late blob")
    done = threading.Event()
    with FileLock(store.lock_path, exclusive=True):  # stands in for a running GC
        def commit():
            writer.commit()
            done.set()

        thread = threading.Thread(target=commit)
        thread.start()
        assert not done.wait(0.2)
        assert all_digests(store) == set()
    thread.join(30)
    assert done.is_set()
    assert all_digests(store) == {str(Digest.of_bytes(b"late blob"))}


def test_gc_removes_stale_staging_but_not_live_writers(store):
    live = store.writer()
    live.write(b"in flight")
    stale = store.staging_root / "0123456789abcdef"
    stale.mkdir()
    gc(store, [])
    assert not stale.exists()
    assert live.commit().size == len(b"in flight")


def test_mark_returns_reachable_set(store):
    m = make_manifest(store, "x")
    index = make_index(store, [m])
    live = mark(store, [Digest.parse(index["digest"])])
    assert {str(d) for d in live} == {index["digest"]} | graph_digests(store, m)
