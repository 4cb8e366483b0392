"""Streaming blob transfer between a registry and the BlobStore, plus progress events and a worker pool.

Must not hold a whole blob in memory: downloads stream chunk by chunk through a
``BlobWriter`` (hashing and size-capping as they go, published only when verified);
``stream_blob`` also hands the bytes, as they arrive, to a consumer (decompress and extract)
that follows the blob writer's own temp file (no second copy), so the network never waits for a
slow consumer and a resumed download never feeds a byte twice;
uploads stream from the stored file, size-checked (the registry verifies the digest on the
closing PUT). Must not parse manifests (pull.py / push.py do).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import BinaryIO, Literal, Protocol, TypeVar

from lamina._internal.logs import get_logger
from lamina.digest import Digest
from lamina.errors import BlobNotFound, RegistryUnavailable, SizeMismatch
from lamina.registry.client import RegistryClient
from lamina.spec.descriptor import Descriptor
from lamina.store.blobs import BlobInfo, BlobWriter
from lamina.store.protocol import BlobStoreProtocol

log = get_logger(__name__)

T = TypeVar("T")

Action = Literal[
    "Waiting", "Downloading", "Verifying Checksum", "Download complete", "Already exists", "Pull complete",
    "Preparing", "Pushing", "Pushed", "Layer already exists", "Mounted from",
]
READ_CHUNK = 1 << 20
REPORT_EVERY = 512 * 1024
DEFAULT_MONOLITHIC_MAX = 32 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgressEvent:
    """One progress update for a blob, keyed by ``id`` (the 12-character short digest, as docker shows).

    ``detail`` carries extra text for some actions (the source repository of "Mounted from").
    """

    id: str
    action: Action
    current: int = 0
    total: int | None = None
    detail: str | None = None


Progress = Callable[[ProgressEvent], None]


def emit(progress: Progress | None, digest: Digest, action: Action, current: int = 0,
         total: int | None = None, detail: str | None = None) -> None:
    if progress is not None:
        progress(ProgressEvent(id=digest.short, action=action, current=current, total=total, detail=detail))


class _Meter:
    """Throttles byte-count events to one per REPORT_EVERY bytes (and the last one)."""

    def __init__(self, progress: Progress | None, digest: Digest, action: Action, total: int) -> None:
        self._progress, self._digest, self._action, self._total = progress, digest, action, total
        self._last = -REPORT_EVERY

    def update(self, current: int) -> None:
        if current - self._last >= REPORT_EVERY or current == self._total:
            self._last = current
            emit(self._progress, self._digest, self._action, current, self._total)


# ---------------------------------------------------------------- download
class _Sink(Protocol):
    """Where downloaded bytes go: a BlobWriter, or a tee of one (``size`` = bytes taken so far)."""

    size: int

    def write(self, data: bytes, /) -> int: ...


def download_blob(client: RegistryClient, repo: str, digest: Digest, size: int, blobs: BlobStoreProtocol, *,
                  progress: Progress | None = None) -> BlobInfo:
    """Stream one blob into ``blobs`` (verified digest and size), resuming with Range after drops.

    A registry that ignores Range makes it start over with a fresh writer (one GET without Range)."""
    while True:
        with blobs.writer(expected=digest, size=size) as writer:
            try:
                _fill(client, repo, digest, size, writer, progress, restart=True)
            except _RangeIgnored:
                log.debug("registry ignored Range; restarting digest=%s", digest)
                continue
            emit(progress, digest, "Verifying Checksum", size, size)
            return writer.commit()


class _RangeIgnored(Exception):
    """The registry answered a resume with the whole blob: start over with a fresh writer."""


def _fill(client: RegistryClient, repo: str, digest: Digest, size: int, sink: _Sink,
          progress: Progress | None, *, restart: bool = False) -> None:
    """Write the blob into ``sink`` until ``size`` bytes, retrying (bounded) and resuming at ``sink.size``."""
    meter = _Meter(progress, digest, "Downloading", size)
    failures = 0
    while True:
        try:
            _fetch_from(client, repo, digest, sink, meter, restart)
        except RegistryUnavailable as exc:
            if not exc.retryable or failures >= client.max_retries:
                raise
            log.debug("blob transfer failed digest=%s at=%d error=%s", digest, sink.size, exc)
        else:
            if sink.size >= size:
                return
            log.debug("blob body ended early digest=%s at=%d of %d", digest, sink.size, size)
            if failures >= client.max_retries:
                return  # commit reports the SizeMismatch
        client.wait_before_retry(failures)
        failures += 1


def _fetch_from(client: RegistryClient, repo: str, digest: Digest, sink: _Sink, meter: _Meter,
                restart: bool) -> None:
    """One GET from ``sink.size`` on; a registry that ignores Range resends what the sink has:
    skip those bytes (a consumer already read them), or raise _RangeIgnored when ``restart``."""
    offset = sink.size
    with client.get_blob_stream(repo, digest, offset=offset) as stream:
        skip = offset - stream.offset
        if skip and restart:
            raise _RangeIgnored
        if skip:
            log.debug("registry ignored Range; skipping %d bytes digest=%s", skip, digest)
        for chunk in stream.iter_chunks():
            if skip:
                cut = min(skip, len(chunk))
                chunk, skip = chunk[cut:], skip - cut
                if not chunk:
                    continue
            sink.write(chunk)
            meter.update(sink.size)


# ---------------------------------------------------------------- download + consume at once
class BlobFeed:
    """What a ``stream_blob`` consumer reads: the blob's bytes in order, as they arrive.

    ``read`` blocks until bytes are there and returns b"" only at the end of a download
    that completed; a failed download raises its error from ``read``. Not verified yet: the
    digest is checked when the whole blob is in (``stream_blob`` commits after the consumer).
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._cond = threading.Condition()
        self._written = 0
        self._pos = 0
        self._done = False
        self._error: BaseException | None = None
        self.cancelled = False

    def read(self, n: int = -1) -> bytes:
        with self._cond:
            while self._written <= self._pos and not self._done and self._error is None:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            avail = self._written - self._pos
        want = avail if n is None or n < 0 else min(n, avail)
        data = os.pread(self._fd, want, self._pos) if want else b""
        self._pos += len(data)
        return data

    def readable(self) -> bool:
        return True

    def _wrote(self, n: int) -> None:
        with self._cond:
            self._written += n
            self._cond.notify_all()

    def _finish(self, error: BaseException | None) -> None:
        with self._cond:
            self._done, self._error = True, error
            self._cond.notify_all()


class _Tee:
    """Writes each chunk to the blob writer, then tells the feed (which reads the writer's file)."""

    def __init__(self, writer: BlobWriter, feed: BlobFeed) -> None:
        self._writer, self._feed = writer, feed
        self.size = 0

    def write(self, data: bytes, /) -> int:
        if self._feed.cancelled:
            raise _Cancelled
        self._writer.write(data)
        self.size += len(data)
        self._feed._wrote(len(data))
        return len(data)


class _Cancelled(Exception):
    """The consumer failed: stop downloading."""


def stream_blob(client: RegistryClient, repo: str, digest: Digest, size: int, blobs: BlobStoreProtocol,
                consume: Callable[[BlobFeed], None], *, progress: Progress | None = None) -> BlobInfo:
    """Download one blob into ``blobs`` while ``consume`` reads it; returns the verified blob.

    The download runs on its own thread into the blob writer, whose temp file ``consume`` (on
    the calling thread) follows, so neither waits for the other, memory stays flat and the
    bytes are written once. After ``consume`` returns, the download is finished and the blob
    verified and published; a consumer must treat what it read as unverified until this
    returns. Any failure (download, digest, size or consumer) aborts the blob and re-raises.
    """
    with blobs.writer(expected=digest, size=size) as writer:
        fd = writer.open_read()
        try:
            feed = BlobFeed(fd)
            producer = _Producer(client, repo, digest, size, _Tee(writer, feed), feed, progress)
            producer.start()
            try:
                consume(feed)
                while feed.read(READ_CHUNK):  # the consumer may stop before the end (tar padding)
                    pass
            except BaseException:
                feed.cancelled = True
                producer.join()
                raise
            producer.join()
        finally:
            os.close(fd)
        emit(progress, digest, "Verifying Checksum", size, size)
        return writer.commit()


class _Producer(threading.Thread):
    """The download half of ``stream_blob``; its outcome reaches the consumer through the feed."""

    def __init__(self, client: RegistryClient, repo: str, digest: Digest, size: int, tee: _Tee,
                 feed: BlobFeed, progress: Progress | None) -> None:
        super().__init__(name=f"lamina-fetch-{digest.short}", daemon=True)
        self._args = (client, repo, digest, size, tee, progress)
        self._feed = feed

    def run(self) -> None:
        try:
            _fill(*self._args)
        except BaseException as exc:
            self._feed._finish(exc)
            return
        tee, size = self._args[4], self._args[3]
        error = None if tee.size == size else SizeMismatch(str(self._args[2]), size, tee.size)
        self._feed._finish(error)


# ---------------------------------------------------------------- upload
def upload_blob(client: RegistryClient, repo: str, digest: Digest, size: int, blobs: BlobStoreProtocol, *,
                progress: Progress | None = None, monolithic_max: int = DEFAULT_MONOLITHIC_MAX,
                chunk_size: int | None = None) -> None:
    """Upload one stored blob: one PUT when small, else PATCH(es) then PUT; restarts the session on drops."""
    failures = 0
    while True:
        try:
            _upload_once(client, repo, digest, size, blobs, progress, monolithic_max, chunk_size)
            return
        except RegistryUnavailable as exc:
            if not exc.retryable or failures >= client.max_retries:
                raise
            log.debug("blob upload failed digest=%s error=%s", digest, exc)
        client.wait_before_retry(failures)
        failures += 1


def _upload_once(client: RegistryClient, repo: str, digest: Digest, size: int, blobs: BlobStoreProtocol,
                 progress: Progress | None, monolithic_max: int, chunk_size: int | None) -> None:
    location = client.start_upload(repo)
    meter = _Meter(progress, digest, "Pushing", size)
    with _open_stored(blobs, digest, size) as reader:
        if size <= monolithic_max:
            body = _stream(reader, size, 0, meter)
            client.finish_upload(repo, location, digest, content=body, length=size)
            return
        step = chunk_size or size
        for offset in range(0, size, step):
            n = min(step, size - offset)
            location = client.upload_chunk(repo, location, _stream(reader, n, offset, meter),
                                           offset=offset, length=n)
    client.finish_upload(repo, location, digest)


def _open_stored(blobs: BlobStoreProtocol, digest: Digest, size: int) -> BinaryIO:
    """The stored blob's file, size-checked. Not re-hashed: the registry verifies the digest on the
    closing PUT (DIGEST_INVALID -> DigestMismatch), and hashing here would compete for the CPU."""
    try:
        raw = open(blobs.path(digest), "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError as exc:
        raise BlobNotFound(str(digest)) from exc
    actual = os.fstat(raw.fileno()).st_size
    if actual != size:
        raw.close()
        raise SizeMismatch(str(digest), size, actual)
    return raw


def _stream(reader: BinaryIO, length: int, offset: int, meter: _Meter) -> Iterator[bytes]:
    """Yield ``length`` bytes from ``reader`` in READ_CHUNK pieces, reporting progress."""
    done = 0
    while done < length:
        chunk = reader.read(min(READ_CHUNK, length - done))
        if not chunk:
            raise SizeMismatch("<stored blob>", offset + length, offset + done)
        done += len(chunk)
        meter.update(offset + done)
        yield chunk


# ---------------------------------------------------------------- descriptors and workers
def unique_descriptors(descs: Sequence[Descriptor]) -> list[Descriptor]:
    """``descs`` without repeated digests, first occurrence kept (an image may repeat a layer)."""
    seen: set[Digest] = set()
    out = []
    for d in descs:
        if d.digest not in seen:
            seen.add(d.digest)
            out.append(d)
    return out



def run_parallel(tasks: Sequence[Callable[[], T]], max_concurrent: int) -> list[T]:
    """Run ``tasks`` on up to ``max_concurrent`` threads; the first failure cancels the queued rest."""
    if max_concurrent <= 1 or len(tasks) <= 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="lamina-xfer") as pool:
        futures: list[Future[T]] = [pool.submit(task) for task in tasks]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f in done and f.exception() is not None]
        if failed:
            for f in pending:
                f.cancel()
            wait(pending)
            exc = failed[0].exception()
            assert exc is not None
            raise exc
        return [f.result() for f in futures]
