"""Layer compression: sniff gzip/zstd/plain, stream-decompress, and compress while hashing.

Must not know about tar entries, the store or registries: bytes in, bytes out.

``CompressingWriter`` computes, in one pass, the DiffID (sha256 of the
uncompressed bytes) and the blob digest (sha256 of the compressed bytes).
Output is deterministic: gzip has mtime 0, no file name, OS 255, and the
threaded isal compressor always receives fixed-size blocks (its output depends
on block boundaries, never on the thread count or on how callers chunk their
writes); zstd runs in its multi-threaded mode, whose frame is the same for any worker count
(at least one), with no content size in the frame header.

A gzip block that would not compress (already compressed or random bytes: a sample of it, 4 × 16 KiB,
shrinks by less than 3 % at level 1) is written as deflate *stored* blocks instead: the same bytes and
a 5-byte header per 64 KiB, without spending the CPU isal would (132 ms per 100 MiB here, most of a
``commit`` of such data). The choice is a function of the block's bytes, so the output stays
deterministic. It hooks isal's threaded writer's per-thread compressors; an isal without them
compresses every block.
"""

from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Literal, cast

from lamina.digest import Digest, new_hash
from lamina.errors import InvalidArgument

Compression = Literal["gzip", "zstd", "none"]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1 << 20
#: Block size fed to the threaded gzip compressor. Changing it changes every gzip digest.
GZIP_BLOCK = 1 << 20
DEFAULT_LEVEL: dict[Compression, int] = {"gzip": 1, "zstd": 3, "none": 0}


_SAMPLES, _SAMPLE = 4, 16 << 10
_STORED_MAX = 0xFFFF


class _StoredWhenIncompressible:
    """Stands in for one of isal's per-thread compressors (``compress_and_crc(block, zdict)``: the
    block as raw deflate ending byte-aligned, and its CRC-32): stored blocks when a sample of the
    block does not compress, else the wrapped compressor."""

    def __init__(self, compressor: object, level: int) -> None:
        self._compressor, self._level = compressor, level

    def compress_and_crc(self, data: bytes, zdict: memoryview) -> tuple[bytes, int]:
        from isal import isal_zlib
        if not _incompressible(data, self._level):
            return self._compressor.compress_and_crc(data, zdict)  # type: ignore[attr-defined, no-any-return]
        return stored_blocks(data), isal_zlib.crc32(data)


@functools.cache
def _gzip_writer_classes() -> tuple[Any, Any]:
    """isal's threaded gzip writer with ``_StoredWhenIncompressible`` compressors, set in ``start()``
    (before its threads read them), and the buffered writer ``igzip_threaded.open`` wraps it in;
    (None, None) for an isal whose internals differ."""
    from isal import igzip_threaded
    base = getattr(igzip_threaded, "_ThreadedGzipWriter", None)
    buffered = getattr(igzip_threaded, "FlushableBufferedWriter", None)
    if base is None or buffered is None or not hasattr(base, "start"):
        return None, None

    class StoredAwareWriter(base):  # type: ignore[misc, valid-type]
        def start(self) -> None:
            wrapped = [_StoredWhenIncompressible(c, self.level) for c in self.compressors]  # type: ignore[has-type]
            self.compressors = wrapped
            super().start()

    return StoredAwareWriter, buffered


def _incompressible(data: bytes, level: int) -> bool:
    from isal import isal_zlib
    if len(data) < _SAMPLES * _SAMPLE:
        return False
    step = len(data) // _SAMPLES
    sample = b"".join(data[i * step:i * step + _SAMPLE] for i in range(_SAMPLES))
    return len(isal_zlib.compress(sample, level=level, wbits=-15)) >= len(sample) * 0.97


def stored_blocks(data: bytes) -> bytes:
    """*data* as non-final deflate stored blocks, starting and ending on a byte boundary."""
    out = bytearray()
    for start in range(0, len(data), _STORED_MAX):
        piece = data[start:start + _STORED_MAX]
        out += b"\x00" + len(piece).to_bytes(2, "little") + (len(piece) ^ 0xFFFF).to_bytes(2, "little") + piece
    return bytes(out)


def sniff(head: bytes) -> Compression:
    """Name the compression of a stream from its first bytes (4 are enough)."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


class _Prefixed(io.RawIOBase):
    """A raw stream that returns *head* first, then the rest of *stream*."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def _peek_head(stream: BinaryIO) -> tuple[bytes, BinaryIO]:
    """The first bytes of *stream* and a stream that still yields them."""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        head = cast(bytes, peek(8))
        if len(head) >= 4:
            return head, stream
    head = stream.read(8)
    return head, cast(BinaryIO, io.BufferedReader(_Prefixed(head, stream), CHUNK))


def open_decompressed(stream: BinaryIO) -> BinaryIO:
    """Wrap *stream* so reads yield the uncompressed bytes, sniffing gzip/zstd/plain.

    The caller keeps owning *stream*; closing the returned object does not close it.
    Corrupt compressed data surfaces as an exception from ``read``.
    """
    head, stream = _peek_head(stream)
    kind = sniff(head)
    if kind == "gzip":
        from isal import igzip

        return cast(BinaryIO, igzip.IGzipFile(fileobj=stream, mode="rb"))  # type: ignore[no-untyped-call]
    if kind == "zstd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True,
                                                            closefd=False)
        return cast(BinaryIO, io.BufferedReader(reader, CHUNK))
    return stream


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerDigests:
    """What compressing a layer produced: ids and sizes of both forms."""

    diff_id: Digest          # sha256 of the uncompressed tar
    digest: Digest           # sha256 of the bytes written to the target (the blob)
    size: int                # bytes written to the target
    uncompressed_size: int   # bytes of the uncompressed tar


class _HashingSink:
    """File-like sink that hashes (unless told not to) and counts what passes to *target*."""

    def __init__(self, target: BinaryIO, *, hashing: bool = True) -> None:
        self.target = target
        self.hash = new_hash()
        self.hashing = hashing
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.hashing:
            self.hash.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)

    def flush(self) -> None:
        self.target.flush()


class CompressingWriter:
    """Compress to *target* while hashing both sides; ``finish()`` returns the LayerDigests.

    ``write`` accepts any chunking; the output bytes depend only on the input bytes,
    the compression and the level. The target is flushed but never closed.
    Levels: gzip 0–3 (isal; default 1), zstd 1–22 (default 3); ignored for "none".
    ``threads`` changes speed, never the output. With ``hash_output=False`` the
    compressed bytes are not hashed (for a target that hashes them itself, like a blob writer):
    ``finish()`` is then refused and ``finish_plain()`` returns the uncompressed side only.
    """

    def __init__(self, target: BinaryIO, compression: Compression = "gzip", *,
                 level: int | None = None, threads: int | None = None, hash_output: bool = True) -> None:
        if compression not in DEFAULT_LEVEL:
            raise InvalidArgument(f"compress layer: unknown compression {compression!r}")
        self.compression: Compression = compression
        self.level = DEFAULT_LEVEL[compression] if level is None else level
        self._sink = _HashingSink(target, hashing=hash_output)
        self._plain = new_hash()
        self._plain_size = 0
        self._pending = bytearray()
        self._result: LayerDigests | None = None
        self._closed = False
        self._encoder = self._open_encoder(threads)

    def _open_encoder(self, threads: int | None) -> BinaryIO | None:
        count = max(1, threads if threads is not None else min(4, os.cpu_count() or 1))
        if self.compression == "gzip":
            from isal import igzip_threaded

            if not 0 <= self.level <= 3:
                raise InvalidArgument(f"compress layer: gzip level {self.level} not in 0..3")
            writer_class, buffered = _gzip_writer_classes()
            if writer_class is None or self.level == 0:
                return cast(BinaryIO, igzip_threaded.open(  # type: ignore[no-untyped-call]
                    self._sink, "wb", compresslevel=self.level, threads=count, block_size=GZIP_BLOCK))
            raw = writer_class(self._sink, "wb", block_size=GZIP_BLOCK, level=self.level, threads=count)
            return cast(BinaryIO, buffered(raw, buffer_size=GZIP_BLOCK))
        if self.compression == "zstd":
            import zstandard

            # zstd's multi-threaded mode (any threads >= 1) writes the same frame whatever the
            # thread count and the write sizes (measured: 1, 2, 4, 8 workers), unlike threads=0.
            cctx = zstandard.ZstdCompressor(level=self.level, write_content_size=False, threads=count)
            return cast(BinaryIO, cctx.stream_writer(cast(IO[bytes], self._sink), closefd=False))
        return None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a finished CompressingWriter")
        self._plain.update(data)
        n = len(data)
        self._plain_size += n
        if self._encoder is None:
            self._sink.write(data)
        elif self.compression == "gzip":
            self._feed_gzip(data)
        else:
            self._encoder.write(data)
        return n

    def _feed_gzip(self, data: bytes | bytearray | memoryview) -> None:
        # Whole GZIP_BLOCK-sized blocks only: block boundaries decide the output bytes. Each block
        # is built with one copy and handed over as bytes, which the compressor keeps as they are.
        view = memoryview(data).cast("B")
        while len(self._pending) + len(view) >= GZIP_BLOCK:
            need = GZIP_BLOCK - len(self._pending)
            block = b"".join((self._pending, view[:need]))
            self._pending.clear()
            view = view[need:]
            self._gzip_block(block)
        self._pending += view

    def _gzip_block(self, block: bytes) -> None:
        # Straight to the threaded writer under the BufferedWriter (whose buffer stays empty):
        # the buffered path would hand it a memoryview, which it copies.
        assert self._encoder is not None
        cast(BinaryIO, getattr(self._encoder, "raw", self._encoder)).write(block)

    def finish(self) -> LayerDigests:
        """Flush everything, close the encoder (not the target) and return the digests. Idempotent."""
        if not self._sink.hashing:
            raise ValueError("finish a CompressingWriter made with hash_output=False: use finish_plain()")
        if self._result is None:
            self._close_encoder()
            self._result = LayerDigests(
                diff_id=Digest("sha256", self._plain.hexdigest()),
                digest=Digest("sha256", self._sink.hash.hexdigest()),
                size=self._sink.size, uncompressed_size=self._plain_size)
        return self._result

    def finish_plain(self) -> tuple[Digest, int]:
        """Flush everything, close the encoder (not the target); the DiffID and uncompressed size."""
        self._close_encoder()
        return Digest("sha256", self._plain.hexdigest()), self._plain_size

    def _close_encoder(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._encoder is not None:
            if self._pending:
                self._gzip_block(bytes(self._pending))  # only gzip input is held back
                self._pending.clear()
            self._encoder.close()
        self._sink.flush()

    def close(self) -> LayerDigests:
        """Same as ``finish()``."""
        return self.finish()

    def flush(self) -> None:
        """Accepted for file-like compatibility; data is pushed out by ``finish``."""

    def writable(self) -> bool:
        return True

    def __enter__(self) -> CompressingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sink.hashing:
            self.finish()
        else:
            self.finish_plain()

