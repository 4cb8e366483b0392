"""Content-addressed blob store in OCI image-layout form: put (idempotent), open (verifying), stat, delete.

Must not know drivers, mounts, registries or what the bytes mean (manifests are walk.py's business).
The protocol other code types against is ``lamina.store.protocol.BlobStoreProtocol``.

On-disk layout (the OCI image layout, plus two lamina files the spec allows beside it)::

    <path>/oci-layout          {"imageLayoutVersion":"1.0.0"}
    <path>/index.json          written by refs.RefStore / ocilayout.export_layout
    <path>/blobs/<algo>/<hex>  immutable blob content, named by its digest
    <path>/staging/<rand>/     flocked staging dirs (lamina._internal.staging), one per writer
    <path>/gc.lock             GC holds it exclusively; a writer holds it shared while it commits

Invariants:
- a file at ``blobs/<algo>/<hex>`` always has exactly that digest when complete: it appears
  only by ``rename`` of a fully written, fsynced and verified temp file, so readers never see
  a partial blob; two processes putting the same blob race harmlessly (same bytes, atomic rename);
- every failed write (digest/size mismatch, ENOSPC, exception, close without commit) leaves no
  blob and no temp file;
- a digest is validated (``Digest``) before it becomes a path (umoci ``blobPath``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from lamina._internal.fsops import DirectAppender, atomic_write, fsync_dir, translate_enospc, write_all
from lamina._internal.locking import FileLock
from lamina._internal.logs import get_logger
from lamina._internal.records import Record, record
from lamina._internal.staging import StagingDir, recover_stale
from lamina.digest import CHUNK, Digest, VerifyingReader, hexdigest, new_hash
from lamina.errors import BlobNotFound, DigestMismatch, InternalError, InvalidDigest, SizeMismatch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lamina.store.protocol import ByteSource

log = get_logger(__name__)

LAYOUT_VERSION = "1.0.0"
OCI_LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
ALGORITHMS = ("sha256", "sha512")
DEFAULT_ALGORITHM = "sha256"


@record
class BlobInfo(Record):
    """What a put produced: the blob's digest and its size in bytes."""

    digest: Digest
    size: int


WRITEBACK_STEP = 8 << 20   # bytes between starts of early writeback (see BlobWriter._start_writeback)


class BlobWriter:
    """A write-only file for one blob: ``write`` bytes, then ``commit()``; anything else aborts.

    Hashes while writing; caps the stream at *size* when given. ``commit`` fsyncs, verifies
    *expected*/*size* (raising DigestMismatch/SizeMismatch after removing the temp file),
    renames into place and fsyncs the directory. Used as a context manager, leaving the block
    by an exception or without ``commit`` removes the temp file. Not thread-safe.

    ``direct``: for a blob nobody reads back soon, the bytes go around the page cache
    (``fsops.DirectAppender``); ``open_read`` followers then see them only at ``commit``.
    """

    def __init__(self, store: BlobStore, *, expected: Digest | None = None,
                 size: int | None = None, direct: bool = False) -> None:
        self._store = store
        self.expected = expected
        self.expected_size = size
        self._hash = expected.new_hash() if expected else new_hash(DEFAULT_ALGORITHM)
        self.size = 0
        self._written_back = 0
        self._info: BlobInfo | None = None
        self._direct: DirectAppender | None = None
        self._staging = StagingDir(store.staging_root)
        with translate_enospc(store.staging_root):
            self._staging.open()
        self._tmp = self._staging.path / "blob"
        try:
            with translate_enospc(self._tmp):
                self._fd: int | None = os.open(
                    self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except BaseException:
            self._staging.close()
            raise
        if direct:
            try:
                self._direct = DirectAppender(self._fd)
            except BaseException:
                self.abort()
                raise

    @property
    def committed(self) -> bool:
        return self._info is not None

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append *data*; raises SizeMismatch as soon as the stream exceeds the expected size."""
        fd = self._require_open()
        view = memoryview(data).cast("B")
        try:
            self._check_overflow(len(view))
            self._hash.update(view)
            with translate_enospc(self._tmp):
                if self._direct is not None:
                    self._direct.write(view)
                else:
                    write_all(fd, view)
        except BaseException:
            self.abort()
            raise
        self.size += len(view)
        if self._direct is None and self.size - self._written_back >= WRITEBACK_STEP:
            self._start_writeback(fd)
        return len(view)

    def _start_writeback(self, fd: int) -> None:
        """Start writing what is written so far to disk now, so ``commit``'s fsync waits for little.

        ``POSIX_FADV_DONTNEED`` on dirty pages starts their writeback without waiting for it (and
        drops the clean ones: a blob is rarely re-read right away). The disk then works while we
        hash and compress; a 100 MiB commit's final fsync went from ~27 ms to a few.
        """
        os.posix_fadvise(fd, self._written_back, self.size - self._written_back, os.POSIX_FADV_DONTNEED)
        self._written_back = self.size

    def open_read(self) -> int:
        """A new read-only descriptor on the temp file: what was written so far and what will be.

        For a consumer that follows the download (``registry.transfer.stream_blob``); the caller
        closes it. The bytes are unverified until ``commit`` returns. The descriptor stays
        readable after commit or abort (the inode lives on until it is closed)."""
        self._require_open()
        return os.open(self._tmp, os.O_RDONLY | os.O_CLOEXEC)

    def commit(self) -> BlobInfo:
        """Verify, publish and return the blob; idempotent after success."""
        if self._info is not None:
            return self._info
        fd = self._require_open()
        try:
            with translate_enospc(self._tmp):
                if self._direct is not None:
                    self._direct.finish()
                os.fsync(fd)
            self._close_fd()
            info = BlobInfo(digest=Digest.from_hash(self._hash), size=self.size)
            self._check_final(info)
            self._store._publish(self._tmp, info)
        finally:
            # success or failure, the staging dir (and temp file, if still there) goes.
            self.abort()
        self._info = info
        return info

    def abort(self) -> None:
        """Discard everything written; safe to call at any time, also after commit."""
        self._close_fd()
        self._staging.close()

    def close(self) -> None:
        self.abort()

    def flush(self) -> None:
        """Writes go straight to the file descriptor; commit() fsyncs. Present for file-like callers."""

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.abort()

    def _require_open(self) -> int:
        if self._fd is None:
            raise InternalError("write blob: writer is already committed or aborted")
        return self._fd

    def _close_fd(self) -> None:
        if self._direct is not None:
            self._direct.close()   # its writing thread must not outlive the descriptor
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _check_overflow(self, extra: int) -> None:
        if self.expected_size is not None and self.size + extra > self.expected_size:
            name = str(self.expected) if self.expected else "<new blob>"
            raise SizeMismatch(name, self.expected_size, self.size + extra)

    def _check_final(self, info: BlobInfo) -> None:
        name = str(self.expected or info.digest)
        if self.expected_size is not None and info.size != self.expected_size:
            raise SizeMismatch(name, self.expected_size, info.size)
        if self.expected is not None and info.digest != self.expected:
            raise DigestMismatch(str(self.expected), str(info.digest))


class BlobStore:
    """A directory-backed ``BlobStoreProtocol``. ``BlobStore(path)`` creates the layout if missing.

    With ``create=False`` nothing is written at open (for reading someone else's layout).
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.root = Path(path)
        self.staging_root = self.root / "staging"
        self.lock_path = self.root / "gc.lock"
        if create:
            self._create_layout()

    def __repr__(self) -> str:
        return f"BlobStore({str(self.root)!r})"

    # ------------------------------------------------------------------ writing
    def writer(self, *, expected: Digest | None = None, size: int | None = None,
               direct: bool = False) -> BlobWriter:
        """A ``BlobWriter`` for streaming producers; the caller commits or it aborts."""
        return BlobWriter(self, expected=expected, size=size, direct=direct)

    def put(self, stream: ByteSource, *, expected: Digest | None = None,
            size: int | None = None) -> BlobInfo:
        """Copy *stream* into the store and return its BlobInfo. Idempotent; does not close *stream*.

        When *expected* is already stored the stream is not read. Raises DigestMismatch or
        SizeMismatch (leaving nothing behind) and NoSpace on ENOSPC.
        """
        if expected is not None and (known := self._existing(expected, size)) is not None:
            return known
        with self.writer(expected=expected, size=size) as w:
            while chunk := stream.read(CHUNK):
                w.write(chunk)
            return w.commit()

    def put_bytes(self, data: bytes, *, expected: Digest | None = None) -> BlobInfo:
        """``put`` for an in-memory blob (manifests, configs)."""
        with self.writer(expected=expected, size=None) as w:
            w.write(data)
            return w.commit()

    # ------------------------------------------------------------------ reading
    def path(self, digest: Digest) -> Path:
        """Where *digest* lives; the digest is re-validated first so it cannot escape the store."""
        checked = Digest(digest.algorithm, digest.hex)  # a subclass or forged value is re-checked
        return self.root / "blobs" / checked.algorithm / checked.hex

    def open(self, digest: Digest, size: int | None = None) -> VerifyingReader:
        """A reader that raises SizeMismatch/DigestMismatch at EOF instead of returning bad bytes.

        The caller closes it (it is a context manager). Raises BlobNotFound, and SizeMismatch
        at once when *size* is given and the stored file has another size.
        """
        try:
            raw = open(self.path(digest), "rb")  # noqa: SIM115 - handed to the caller
        except FileNotFoundError as exc:
            raise BlobNotFound(str(digest)) from exc
        actual = os.fstat(raw.fileno()).st_size
        if size is not None and size != actual:
            raw.close()
            raise SizeMismatch(str(digest), size, actual)
        return VerifyingReader(raw, digest, actual)

    def read_bytes(self, digest: Digest, size: int | None = None) -> bytes:
        """The whole verified blob; for small blobs like manifests and configs.

        Raises BlobNotFound, SizeMismatch or DigestMismatch, as reading through ``open`` does.
        """
        try:
            with open(self.path(digest), "rb") as raw:
                data = raw.read()
        except FileNotFoundError as exc:
            raise BlobNotFound(str(digest)) from exc
        if size is not None and size != len(data):
            raise SizeMismatch(str(digest), size, len(data))
        actual = hexdigest(digest.algorithm, data)
        if actual != digest.hex:
            raise DigestMismatch(str(digest), f"{digest.algorithm}:{actual}")
        return data

    def stat(self, digest: Digest) -> int:
        """Size in bytes; raises BlobNotFound."""
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError as exc:
            raise BlobNotFound(str(digest)) from exc

    def exists(self, digest: Digest) -> bool:
        return self.path(digest).is_file()

    def verify(self, digest: Digest) -> None:
        """Re-hash the stored blob; raises DigestMismatch/SizeMismatch (DataCorruption) or BlobNotFound."""
        with self.open(digest) as reader:
            while reader.read(CHUNK):
                pass

    def list(self) -> Iterator[Digest]:
        """Every stored digest (any order). Files that are not valid digests are skipped."""
        for algorithm in ALGORITHMS:
            try:
                names = os.listdir(self.root / "blobs" / algorithm)
            except FileNotFoundError:
                continue
            for name in names:
                try:
                    yield Digest(algorithm, name)
                except InvalidDigest:
                    log.debug("skipping foreign file in blob dir name=%s", name)

    # ------------------------------------------------------------------ deleting / maintenance
    def delete(self, digest: Digest) -> bool:
        """Remove a blob; True if it was there. Callers normally let gc() decide."""
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            return False
        log.debug("deleted blob digest=%s", digest)
        return True

    def lock(self, *, exclusive: bool = True) -> FileLock:
        """The store lock (``<path>/gc.lock``): GC takes it exclusively, commits take it shared."""
        return FileLock(self.lock_path, exclusive=exclusive, timeout=60.0 if exclusive else None)

    def clean(self) -> int:
        """Remove staging dirs whose owners died; never touches blobs. Returns how many went."""
        return len(recover_stale(self.staging_root))

    # ------------------------------------------------------------------ internals
    def _existing(self, digest: Digest, size: int | None) -> BlobInfo | None:
        try:
            actual = self.stat(digest)
        except BlobNotFound:
            return None
        if size is not None and size != actual:
            raise SizeMismatch(str(digest), size, actual)
        return BlobInfo(digest=digest, size=actual)

    def _publish(self, tmp: Path, info: BlobInfo) -> None:
        """Rename a verified temp file into place under the shared store lock (so GC never races)."""
        target = self.path(info.digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.lock(exclusive=False):
            if target.is_file():
                log.debug("blob already present digest=%s", info.digest)
                return
            os.rename(tmp, target)
            fsync_dir(target.parent)
        log.debug("stored blob digest=%s size=%d", info.digest, info.size)

    def _create_layout(self) -> None:
        (self.root / "blobs" / DEFAULT_ALGORITHM).mkdir(parents=True, exist_ok=True)
        layout = json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode()
        index = json.dumps({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}).encode()
        for name, data in ((OCI_LAYOUT_FILE, layout), (INDEX_FILE, index)):
            target = self.root / name
            if not target.exists():
                _create_exclusive(target, data)


def _create_exclusive(target: Path, data: bytes) -> None:
    """Atomically create *target* unless another process got there first (then keep theirs)."""
    tmp = target.with_name(f".tmp-{target.name}-{os.urandom(6).hex()}")
    atomic_write(tmp, data)
    try:
        os.link(tmp, target)  # fails if target exists: first writer wins, nothing is clobbered
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    fsync_dir(target.parent)
