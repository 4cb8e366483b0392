"""Contract suite for BlobStoreProtocol: every implementation must pass every test here.

Parametrized over implementations (only the filesystem BlobStore today); an implementation
that cannot run here shows up as *skipped* with a reason, not as absent. Each protocol
method has at least one test. Backends supply a factory and a way to damage a stored blob.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lamina.digest import Digest
from lamina.errors import BlobNotFound, DataCorruption, DigestMismatch, SizeMismatch
from lamina.store.blobs import BlobInfo, BlobStore
from lamina.store.protocol import BlobStoreProtocol

DATA = os.urandom(300_000)
DIGEST = Digest.of_bytes(DATA)


@dataclass(frozen=True)
class Backend:
    make: Callable[[Path], BlobStoreProtocol]
    flip_byte: Callable[[BlobStoreProtocol, Digest, int], None]
    truncate: Callable[[BlobStoreProtocol, Digest, int], None]


def _fs_flip(store, digest, offset):
    path = store.path(digest)
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


def _fs_truncate(store, digest, size):
    os.truncate(store.path(digest), size)


BACKENDS = {"fs": Backend(make=lambda p: BlobStore(p / "oci"), flip_byte=_fs_flip, truncate=_fs_truncate)}


@pytest.fixture(params=[pytest.param("fs")])
def backend(request) -> Backend:
    return BACKENDS[request.param]


@pytest.fixture
def store(backend, tmp_path) -> BlobStoreProtocol:
    return backend.make(tmp_path)


def test_implements_the_protocol(store):
    assert isinstance(store, BlobStoreProtocol)


def test_put_returns_digest_and_size(store):
    assert store.put(io.BytesIO(DATA)) == BlobInfo(digest=DIGEST, size=len(DATA))
    assert store.exists(DIGEST)


def test_put_is_idempotent(store):
    first = store.put(io.BytesIO(DATA), expected=DIGEST, size=len(DATA))
    assert store.put(io.BytesIO(DATA), expected=DIGEST, size=len(DATA)) == first
    assert list(store.list()) == [DIGEST]


def test_put_bytes(store):
    info = store.put_bytes(b"{}", expected=Digest.of_bytes(b"{}"))
    assert store.read_bytes(info.digest) == b"{}"


@pytest.mark.parametrize("expected, size, error", [
    (Digest.of_bytes(b"other"), None, DigestMismatch),
    (DIGEST, len(DATA) - 1, SizeMismatch),
    (DIGEST, len(DATA) + 1, SizeMismatch),
])
def test_put_verification_failure_stores_nothing(store, expected, size, error):
    with pytest.raises(error):
        store.put(io.BytesIO(DATA), expected=expected, size=size)
    assert list(store.list()) == []
    assert not store.exists(DIGEST)


def test_writer_commit(store):
    with store.writer(expected=DIGEST, size=len(DATA)) as w:
        w.write(DATA[:1000])
        w.write(DATA[1000:])
        assert w.commit() == BlobInfo(digest=DIGEST, size=len(DATA))
    assert store.read_bytes(DIGEST, len(DATA)) == DATA


def test_writer_abort(store):
    with pytest.raises(RuntimeError), store.writer() as w:
        w.write(DATA)
        raise RuntimeError("producer died")
    with store.writer() as w:
        w.write(DATA)
    assert list(store.list()) == []


def test_open_streams_verified_content(store):
    store.put_bytes(DATA)
    with store.open(DIGEST) as r:
        chunks = []
        while chunk := r.read(65536):
            chunks.append(chunk)
    assert b"".join(chunks) == DATA


def test_missing_blob(store):
    with pytest.raises(BlobNotFound):
        store.open(DIGEST)
    with pytest.raises(BlobNotFound):
        store.read_bytes(DIGEST)
    with pytest.raises(BlobNotFound):
        store.stat(DIGEST)
    with pytest.raises(BlobNotFound):
        store.verify(DIGEST)
    assert store.exists(DIGEST) is False
    assert store.delete(DIGEST) is False


def test_stat(store):
    store.put_bytes(DATA)
    assert store.stat(DIGEST) == len(DATA)


def test_delete_and_list(store):
    a, b = store.put_bytes(b"a"), store.put_bytes(b"b")
    assert sorted(store.list(), key=str) == sorted([a.digest, b.digest], key=str)
    assert store.delete(a.digest) is True
    assert list(store.list()) == [b.digest]


def test_path_names_the_digest(store):
    assert store.path(DIGEST).name == DIGEST.hex


def test_verify_passes_for_intact_blob(store):
    store.put_bytes(DATA)
    store.verify(DIGEST)


@pytest.mark.parametrize("offset", [0, len(DATA) // 2, len(DATA) - 1])
def test_flipped_byte_is_detected(backend, store, offset):
    store.put_bytes(DATA)
    backend.flip_byte(store, DIGEST, offset)
    for check in (lambda: store.read_bytes(DIGEST), lambda: store.verify(DIGEST)):
        with pytest.raises(DigestMismatch) as err:
            check()
        assert err.value.digest == str(DIGEST)


@pytest.mark.parametrize("size_known", [True, False])
def test_truncation_is_detected(backend, store, size_known):
    store.put_bytes(DATA)
    backend.truncate(store, DIGEST, 1000)
    with pytest.raises(DataCorruption) as err:
        store.read_bytes(DIGEST, len(DATA) if size_known else None)
    assert isinstance(err.value, SizeMismatch | DigestMismatch)
    assert err.value.fields["digest"] == str(DIGEST)


def test_lock_is_a_context_manager(store):
    with store.lock(exclusive=True):
        pass
    with store.lock(exclusive=False), store.lock(exclusive=False):
        pass


def test_clean_keeps_blobs_and_live_writers(store):
    store.put_bytes(DATA)
    with store.writer() as w:
        w.write(b"live")
        assert store.clean() == 0
        assert w.commit().size == 4
    assert store.exists(DIGEST)
