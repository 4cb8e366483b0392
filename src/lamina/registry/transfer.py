"""Streaming blob transfer between a registry and the BlobStore, plus progress events and a worker pool.

Must not hold a whole blob in memory: downloads stream chunk by chunk through a
``BlobWriter`` (hashing and size-capping as they go, published only when verified);
uploads stream from the stored file, size-checked (the registry verifies the digest on the
closing PUT). Must not parse manifests (pull.py / push.py do).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import BinaryIO, Literal, TypeVar

from lamina.digest import Digest
from lamina.errors import BlobNotFound, RegistryUnavailable, SizeMismatch
from lamina.registry.client import RegistryClient
from lamina.spec.descriptor import Descriptor
from lamina.store.blobs import BlobInfo, BlobStoreProtocol, BlobWriter

log = logging.getLogger(__name__)

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
class _RangeIgnored(Exception):
    """The registry answered a resume with the whole blob: start over with a fresh writer."""


def download_blob(client: RegistryClient, repo: str, digest: Digest, size: int, blobs: BlobStoreProtocol, *,
                  progress: Progress | None = None) -> BlobInfo:
    """Stream one blob into ``blobs`` (verified digest and size), resuming with Range after drops."""
    failures = 0
    while True:
        with blobs.writer(expected=digest, size=size) as writer:
            try:
                failures = _fill(client, repo, digest, size, writer, failures, progress)
            except _RangeIgnored:
                log.debug("registry ignored Range; restarting digest=%s", digest)
                continue
            emit(progress, digest, "Verifying Checksum", size, size)
            return writer.commit()


def _fill(client: RegistryClient, repo: str, digest: Digest, size: int, writer: BlobWriter,
          failures: int, progress: Progress | None) -> int:
    """Write the blob into ``writer`` until ``size`` bytes; returns the failures count so far."""
    meter = _Meter(progress, digest, "Downloading", size)
    while True:
        try:
            _fetch_from(client, repo, digest, writer, meter)
        except RegistryUnavailable as exc:
            if not exc.retryable or failures >= client.max_retries:
                raise
            log.debug("blob transfer failed digest=%s at=%d error=%s", digest, writer.size, exc)
        else:
            if writer.size >= size:
                return failures
            log.debug("blob body ended early digest=%s at=%d of %d", digest, writer.size, size)
            if failures >= client.max_retries:
                return failures  # commit reports the SizeMismatch
        client.wait_before_retry(failures)
        failures += 1


def _fetch_from(client: RegistryClient, repo: str, digest: Digest, writer: BlobWriter, meter: _Meter) -> None:
    offset = writer.size
    with client.get_blob_stream(repo, digest, offset=offset) as stream:
        if stream.offset != offset:
            raise _RangeIgnored
        for chunk in stream.iter_chunks():
            writer.write(chunk)
            meter.update(writer.size)


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
