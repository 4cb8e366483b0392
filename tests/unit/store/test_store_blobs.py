"""Tests for lamina.store.blobs: BlobStore put/open/stat/delete, BlobWriter, failure cleanup, concurrency."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import subprocess

import pytest

from lamina.digest import Digest
from lamina.errors import (
    BlobNotFound,
    DataCorruption,
    DigestMismatch,
    InternalError,
    InvalidDigest,
    NoSpace,
    SizeMismatch,
)
from lamina.store import blobs as blobs_mod
from lamina.store.blobs import BlobInfo, BlobStore
from lamina.testing import probes

DATA = b"the quick brown fox" * 1000
DIGEST = Digest.of_bytes(DATA)


def leftovers(store: BlobStore) -> list[str]:
    """Everything under staging/ (must be empty after any put, good or bad)."""
    if not store.staging_root.exists():
        return []
    return sorted(str(p.relative_to(store.staging_root)) for p in store.staging_root.rglob("*"))


class Unreadable(io.RawIOBase):
    def read(self, n=-1):
        raise AssertionError("stream must not be read")


# ---------------------------------------------------------------- layout
def test_new_store_creates_oci_layout(store):
    assert json.loads((store.root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((store.root / "index.json").read_text())
    assert index["schemaVersion"] == 2 and index["manifests"] == []
    assert (store.root / "blobs" / "sha256").is_dir()
    assert not [p for p in store.root.iterdir() if p.name.startswith(".tmp-")]


def test_existing_layout_files_are_not_clobbered(tmp_path):
    root = tmp_path / "oci"
    root.mkdir()
    (root / "index.json").write_text('{"schemaVersion":2,"manifests":[],"annotations":{"k":"v"}}')
    BlobStore(root)
    assert json.loads((root / "index.json").read_text())["annotations"] == {"k": "v"}


def test_create_false_writes_nothing(tmp_path):
    store = BlobStore(tmp_path / "absent", create=False)
    assert not (tmp_path / "absent").exists()
    assert list(store.list()) == []
    assert not store.exists(DIGEST)


# ---------------------------------------------------------------- put
def test_put_stores_content_under_its_digest(store):
    info = store.put(io.BytesIO(DATA))
    assert info == BlobInfo(digest=DIGEST, size=len(DATA))
    assert (store.root / "blobs" / "sha256" / DIGEST.hex).read_bytes() == DATA
    assert store.path(DIGEST) == store.root / "blobs" / "sha256" / DIGEST.hex
    assert leftovers(store) == []


def test_put_is_idempotent_and_does_not_rewrite(store):
    first = store.put(io.BytesIO(DATA))
    before = os.stat(store.path(DIGEST))
    second = store.put(io.BytesIO(DATA))
    third = store.put_bytes(DATA, expected=DIGEST)
    after = os.stat(store.path(DIGEST))
    assert first == second == third
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert leftovers(store) == []


def test_put_with_known_expected_digest_skips_reading(store):
    store.put_bytes(DATA)
    assert store.put(Unreadable(), expected=DIGEST) == BlobInfo(digest=DIGEST, size=len(DATA))


def test_put_with_known_digest_but_wrong_size_raises(store):
    store.put_bytes(DATA)
    with pytest.raises(SizeMismatch) as err:
        store.put(Unreadable(), expected=DIGEST, size=3)
    assert err.value.digest == str(DIGEST)


def test_put_expected_digest_wrong_leaves_nothing(store):
    wrong = Digest.of_bytes(b"something else")
    with pytest.raises(DigestMismatch) as err:
        store.put(io.BytesIO(DATA), expected=wrong)
    assert err.value.digest == str(wrong)
    assert err.value.actual == str(DIGEST)
    assert not store.exists(DIGEST) and not store.exists(wrong)
    assert leftovers(store) == []


@pytest.mark.parametrize("size", [len(DATA) - 1, len(DATA) + 1, 0])
def test_put_size_wrong_leaves_nothing(store, size):
    with pytest.raises(SizeMismatch) as err:
        store.put(io.BytesIO(DATA), expected=DIGEST, size=size)
    assert err.value.digest == str(DIGEST)
    assert err.value.expected == size
    assert list(store.list()) == []
    assert leftovers(store) == []


def test_put_sha512(store):
    expected = Digest("sha512", hashlib.sha512(DATA).hexdigest())
    info = store.put(io.BytesIO(DATA), expected=expected, size=len(DATA))
    assert info.digest == expected
    assert store.path(expected).parent.name == "sha512"
    assert set(store.list()) == {expected}
    assert store.read_bytes(expected) == DATA


def test_put_empty_blob(store):
    info = store.put_bytes(b"")
    assert info.size == 0
    assert str(info.digest) == "sha256:" + hashlib.sha256(b"").hexdigest()
    assert store.read_bytes(info.digest, 0) == b""


def test_put_stream_error_leaves_nothing(store):
    class Broken(io.RawIOBase):
        def __init__(self):
            self.calls = 0

        def read(self, n=-1):
            self.calls += 1
            if self.calls > 2:
                raise ConnectionError("peer went away")
            return b"x" * 10

    with pytest.raises(ConnectionError):
        store.put(Broken())
    assert list(store.list()) == [] and leftovers(store) == []


# ---------------------------------------------------------------- writer
def test_writer_streams_and_commits(store):
    with store.writer(expected=DIGEST, size=len(DATA)) as w:
        for i in range(0, len(DATA), 777):
            w.write(DATA[i:i + 777])
        info = w.commit()
        assert w.commit() == info  # idempotent
    assert info == BlobInfo(digest=DIGEST, size=len(DATA))
    assert store.read_bytes(DIGEST) == DATA
    assert leftovers(store) == []


def test_writer_open_read_follows_the_writes_and_outlives_the_writer(store):
    with store.writer(expected=DIGEST, size=len(DATA)) as w:
        fd = w.open_read()
        try:
            w.write(DATA[:100])
            assert os.pread(fd, 1000, 0) == DATA[:100]
            w.write(DATA[100:])
            assert os.pread(fd, 50, 100) == DATA[100:150]
            w.abort()  # a failed download: nothing is published, the reader still reads
            assert os.pread(fd, len(DATA), 0) == DATA
        finally:
            os.close(fd)
        with pytest.raises(InternalError):
            w.open_read()
    assert list(store.list()) == [] and leftovers(store) == []


def test_writer_without_commit_aborts(store):
    with store.writer() as w:
        w.write(DATA)
        assert len(leftovers(store)) == 3  # its staging dir, its lock, the temp blob
    assert list(store.list()) == [] and leftovers(store) == []


def test_writer_aborts_on_exception(store):
    with pytest.raises(KeyError), store.writer() as w:
        w.write(DATA)
        raise KeyError("producer failed")
    assert list(store.list()) == [] and leftovers(store) == []


def test_writer_close_without_commit_and_write_after_close(store):
    w = store.writer()
    w.write(b"abc")
    w.close()
    assert leftovers(store) == []
    with pytest.raises(InternalError):
        w.write(b"more")


def test_writer_overflow_raises_at_once(store):
    w = store.writer(size=4)
    w.write(b"abcd")
    with pytest.raises(SizeMismatch) as err:
        w.write(b"e")
    assert err.value.expected == 4 and err.value.actual == 5
    assert leftovers(store) == []
    with pytest.raises(InternalError):
        w.commit()


def test_writer_accepts_memoryview_and_bytearray(store):
    with store.writer() as w:
        w.write(bytearray(b"ab"))
        w.write(memoryview(b"cd"))
        info = w.commit()
    assert store.read_bytes(info.digest) == b"abcd"


# ---------------------------------------------------------------- ENOSPC
def test_enospc_raises_nospace_and_leaves_nothing(store, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(blobs_mod.os, "write", full)
    with pytest.raises(NoSpace) as err:
        store.put(io.BytesIO(DATA))
    monkeypatch.undo()
    assert "no space left" in str(err.value)
    assert list(store.list()) == [] and leftovers(store) == []


def _tmpfs_reason() -> str | None:
    return probes.root() or (None if shutil.which("mount") else "needs mount(8)")


@pytest.mark.skipif(_tmpfs_reason() is not None, reason=str(_tmpfs_reason()))
def test_enospc_on_a_tiny_tmpfs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {res.stderr.strip()}")
    try:
        store = BlobStore(mnt / "oci")
        with pytest.raises(NoSpace):
            store.put(io.BytesIO(os.urandom(256 * 1024)))
        assert list(store.list()) == [] and leftovers(store) == []
        small = store.put_bytes(b"still works")  # the failed put freed its space
        assert store.read_bytes(small.digest) == b"still works"
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


# ---------------------------------------------------------------- reading
def test_open_reads_verified(store):
    store.put_bytes(DATA)
    with store.open(DIGEST, len(DATA)) as r:
        assert r.read(5) == DATA[:5]
        assert r.read() == DATA[5:]
    assert store.read_bytes(DIGEST) == DATA
    store.verify(DIGEST)


def test_missing_blob_raises_blob_not_found(store):
    for call in (store.open, store.read_bytes, store.stat, store.verify):
        with pytest.raises(BlobNotFound) as err:
            call(DIGEST)
        assert err.value.digest == str(DIGEST)
    assert store.exists(DIGEST) is False
    assert store.delete(DIGEST) is False


def test_open_with_wrong_size_raises(store):
    store.put_bytes(DATA)
    with pytest.raises(SizeMismatch):
        store.open(DIGEST, len(DATA) + 1)


def flip_byte(store: BlobStore, digest: Digest, offset: int = 100) -> None:
    path = store.path(digest)
    path.chmod(0o644)
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_flipped_byte_raises_digest_mismatch_naming_the_digest(store):
    store.put_bytes(DATA)
    flip_byte(store, DIGEST)
    for read in (lambda: store.read_bytes(DIGEST), lambda: store.read_bytes(DIGEST, len(DATA)),
                 lambda: store.verify(DIGEST)):
        with pytest.raises(DigestMismatch) as err:
            read()
        assert err.value.digest == str(DIGEST)
        assert str(DIGEST) in str(err.value)


def test_flipped_byte_is_never_yielded_silently_by_chunked_reads(store):
    store.put_bytes(DATA)
    flip_byte(store, DIGEST, offset=len(DATA) - 1)
    with store.open(DIGEST) as r, pytest.raises(DigestMismatch):
        while r.read(1000):
            pass


@pytest.mark.parametrize("with_size", [True, False])
def test_truncated_blob_raises(store, with_size):
    store.put_bytes(DATA)
    with open(store.path(DIGEST), "r+b") as f:
        f.truncate(len(DATA) // 2)
    with pytest.raises((SizeMismatch, DigestMismatch)) as err:
        store.read_bytes(DIGEST, len(DATA) if with_size else None)
    assert isinstance(err.value, DataCorruption)
    assert err.value.fields["digest"] == str(DIGEST)
    assert str(DIGEST) in str(err.value)


def test_stat_exists_delete_list(store):
    a = store.put_bytes(b"a")
    b = store.put_bytes(b"bb")
    assert store.stat(b.digest) == 2
    assert set(store.list()) == {a.digest, b.digest}
    assert store.delete(a.digest) is True
    assert store.exists(a.digest) is False and store.exists(b.digest) is True
    assert list(store.list()) == [b.digest]


def test_list_skips_files_that_are_not_digests(store):
    info = store.put_bytes(b"x")
    (store.root / "blobs" / "sha256" / "not-a-digest").write_bytes(b"")
    (store.root / "blobs" / "md5").mkdir()
    assert list(store.list()) == [info.digest]


def test_path_revalidates_a_forged_digest(store):
    forged = Digest.of_bytes(b"x")
    object.__setattr__(forged, "hex", "../../../../etc/passwd")
    with pytest.raises(InvalidDigest):
        store.path(forged)
    with pytest.raises(InvalidDigest):
        store.open(forged)


def test_clean_removes_only_stale_staging(store):
    w = store.writer()
    w.write(b"in flight")
    dead = store.staging_root / "deadbeef"
    dead.mkdir(parents=True)
    (dead / "blob").write_bytes(b"orphan")
    assert store.clean() == 1
    assert not dead.exists()
    assert w.commit().size == len(b"in flight")


# ---------------------------------------------------------------- concurrency
BIG = os.urandom(1 << 20) + b"tail"


def _put_many(path: str, rounds: int, results) -> None:
    store = BlobStore(path)
    for _ in range(rounds):
        info = store.put(io.BytesIO(BIG))
        results.put(str(info.digest))


def _read_many(path: str, digest: str, rounds: int, results) -> None:
    store = BlobStore(path)
    seen = 0
    for _ in range(rounds * 50):
        try:
            data = store.read_bytes(Digest.parse(digest))
        except BlobNotFound:
            continue
        assert data == BIG
        seen += 1
    results.put(f"read:{seen}")


def test_concurrent_puts_of_the_same_blob(tmp_path):
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    path = str(tmp_path / "oci")
    digest = str(Digest.of_bytes(BIG))
    writers = [ctx.Process(target=_put_many, args=(path, 5, results)) for _ in range(4)]
    reader = ctx.Process(target=_read_many, args=(path, digest, 5, results))
    procs = [*writers, reader]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    outputs = [results.get(timeout=5) for _ in range(4 * 5 + 1)]
    assert sorted(o for o in outputs if not o.startswith("read:")) == [digest] * 20
    store = BlobStore(path)
    assert [str(d) for d in store.list()] == [digest]
    assert store.read_bytes(Digest.parse(digest)) == BIG
    assert leftovers(store) == []
