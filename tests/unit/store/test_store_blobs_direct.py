"""Blobs written around the page cache (``writer(direct=True)``, ``fsops.DirectAppender``): same bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lamina._internal.fsops import DIRECT_CHUNK, DirectAppender
from lamina.digest import Digest
from lamina.store.blobs import BlobInfo, BlobStore

SIZES = [0, 1, 4095, DIRECT_CHUNK - 1, DIRECT_CHUNK, DIRECT_CHUNK + 1, 3 * DIRECT_CHUNK + 777]


def _payload(size: int) -> bytes:
    return (os.urandom(4096) * (size // 4096 + 1))[:size]


@pytest.mark.parametrize("size", SIZES)
def test_appender_writes_exactly_the_bytes_in_any_chunking(tmp_path: Path, size: int) -> None:
    data = _payload(size)
    path = tmp_path / "f"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        out = DirectAppender(fd)
        for start in range(0, size, 300_001):
            out.write(data[start:start + 300_001])
        out.finish()
        out.finish()   # idempotent
    finally:
        os.close(fd)
    assert path.read_bytes() == data


def test_appender_keeps_whole_chunks_out_of_the_page_cache(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        out = DirectAppender(fd)
        if not out.direct:
            pytest.skip(f"{tmp_path} does not take O_DIRECT")
        out.write(_payload(2 * DIRECT_CHUNK + 10))
        out.finish()
        with pytest.raises(BlockingIOError):   # not cached: a no-wait read refuses
            os.preadv(fd, [bytearray(4096)], 0, os.RWF_NOWAIT)
    finally:
        os.close(fd)


def test_appender_falls_back_where_o_direct_is_refused(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm")
    path = shm / f"lamina-direct-{os.getpid()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        out = DirectAppender(fd)
        data = _payload(DIRECT_CHUNK + 5)
        out.write(data)
        out.finish()
        assert not out.direct and path.read_bytes() == data   # tmpfs refuses O_DIRECT
    finally:
        os.close(fd)
        path.unlink()


@pytest.mark.parametrize("size", [0, DIRECT_CHUNK, 2 * DIRECT_CHUNK + 3])
def test_direct_blob_is_the_same_blob(store: BlobStore, size: int) -> None:
    data = _payload(size)
    with store.writer(direct=True, expected=Digest.of_bytes(data), size=size) as w:
        for start in range(0, size, 65_536):
            w.write(data[start:start + 65_536])
        info = w.commit()
    assert info == BlobInfo(digest=Digest.of_bytes(data), size=size)
    assert store.read_bytes(info.digest) == data
    assert not any(store.staging_root.rglob("blob"))


def test_direct_blob_aborts_without_commit(store: BlobStore) -> None:
    with store.writer(direct=True) as w:
        w.write(_payload(DIRECT_CHUNK + 1))
    assert list(store.list()) == [] and not any(store.staging_root.rglob("blob"))


def test_appender_raises_a_failed_chunk_write_and_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    real_write = os.write

    def full_disk(target: int, data: object) -> int:
        if target == fd:
            raise OSError(errno.ENOSPC, "no space")
        return real_write(target, data)  # type: ignore[arg-type]
    try:
        out = DirectAppender(fd)
        monkeypatch.setattr(os, "write", full_disk)
        with pytest.raises(OSError) as raised:
            for _ in range(8):   # the writing thread fails; a later write or finish says so
                out.write(_payload(DIRECT_CHUNK))
            out.finish()
        assert raised.value.errno == errno.ENOSPC
        out.close()
    finally:
        monkeypatch.undo()
        os.close(fd)


def test_direct_blob_writer_closed_midway_leaves_nothing(store: BlobStore) -> None:
    w = store.writer(direct=True)
    w.write(_payload(5 * DIRECT_CHUNK + 3))
    w.close()   # stops its writing thread before the descriptor goes
    assert list(store.list()) == [] and not any(store.staging_root.rglob("blob"))
