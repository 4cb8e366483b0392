import gzip
import hashlib
import io
import os
import random
import zlib

import pytest
import zstandard

from lamina.errors import InvalidArgument
from lamina.layer.compression import CompressingWriter, open_decompressed, sniff, stored_blocks

DATA = random.Random(7).randbytes(3 << 20) + b"text " * 200_000


class NoPeek(io.RawIOBase):
    """A plain stream without peek(), like a socket or a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b):
        chunk = self._data.read(min(len(b), 1000))
        b[: len(chunk)] = chunk
        return len(chunk)


def compress(kind, data=DATA, chunk=65536, **kw) -> tuple[bytes, object]:
    out = io.BytesIO()
    w = CompressingWriter(out, kind, **kw)
    for i in range(0, len(data), chunk):
        w.write(data[i:i + chunk])
    digests = w.finish()
    return out.getvalue(), digests


@pytest.mark.parametrize("kind", ["gzip", "zstd", "none"])
def test_digests_describe_both_sides(kind):
    blob, d = compress(kind)
    assert d.diff_id.hex == hashlib.sha256(DATA).hexdigest()
    assert d.digest.hex == hashlib.sha256(blob).hexdigest()
    assert (d.size, d.uncompressed_size) == (len(blob), len(DATA))
    if kind == "none":
        assert blob == DATA and d.digest == d.diff_id


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_output_is_deterministic_whatever_the_chunking_and_threads(kind):
    ref, _ = compress(kind, chunk=1 << 20)
    assert compress(kind, chunk=7777)[0] == ref
    assert compress(kind, chunk=5 << 20)[0] == ref
    assert compress(kind, threads=1)[0] == ref
    assert compress(kind, threads=3)[0] == ref
    assert compress(kind, threads=0)[0] == ref   # 0 means 1: zstd's single-threaded frame would differ


def test_gzip_is_standard_with_a_fixed_header():
    blob, _ = compress("gzip")
    assert gzip.decompress(blob) == DATA
    assert blob[:3] == b"\x1f\x8b\x08"
    assert blob[3] == 0  # no FNAME, no FEXTRA
    assert blob[4:8] == b"\0\0\0\0"  # mtime 0


def test_zstd_is_standard():
    blob, _ = compress("zstd")
    assert zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read() == DATA


def test_levels_change_output_and_are_checked():
    assert compress("gzip", level=0)[0] != compress("gzip", level=3)[0]
    with pytest.raises(InvalidArgument):
        CompressingWriter(io.BytesIO(), "gzip", level=9)
    with pytest.raises(InvalidArgument):
        CompressingWriter(io.BytesIO(), "brotli")  # type: ignore[arg-type]


def test_finish_is_idempotent_and_closes_writes():
    w = CompressingWriter(io.BytesIO(), "zstd")
    w.write(b"abc")
    assert w.finish() == w.finish()
    with pytest.raises(ValueError):
        w.write(b"more")


def test_empty_input():
    blob, d = compress("gzip", data=b"")
    assert gzip.decompress(blob) == b"" and d.uncompressed_size == 0


@pytest.mark.parametrize("head,kind", [(b"\x1f\x8b\x08\x00", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"),
                                       (b"etc/\0\0\0", "none"), (b"", "none")])
def test_sniff(head, kind):
    assert sniff(head) == kind


@pytest.mark.parametrize("kind", ["gzip", "zstd", "none"])
@pytest.mark.parametrize("wrap", [io.BytesIO, lambda b: io.BufferedReader(NoPeek(b)), NoPeek])
def test_open_decompressed_round_trips(kind, wrap):
    blob, _ = compress(kind)
    with open_decompressed(wrap(blob)) as f:
        assert f.read() == DATA


def test_open_decompressed_reads_concatenated_gzip_members():
    blob = gzip.compress(b"one ") + gzip.compress(b"two")
    assert open_decompressed(io.BytesIO(blob)).read() == b"one two"


def test_stored_blocks_are_raw_deflate():
    data = os.urandom(200_000)
    assert zlib.decompress(stored_blocks(data) + b"\x03\x00", -15) == data   # + an empty final block


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_incompressible_blocks_are_stored_and_the_stream_stays_deterministic(threads):
    rng = random.Random(7)
    noise = rng.randbytes(3 << 20)
    data = noise + b"compressible text\n" * 200_000 + noise[:100_000]
    out = io.BytesIO()
    writer = CompressingWriter(out, "gzip", threads=threads)
    for start in range(0, len(data), 123_457):
        writer.write(data[start:start + 123_457])
    writer.finish()
    blob = out.getvalue()
    assert gzip.decompress(blob) == data and zlib.decompress(blob, 31) == data
    stored_noise = len(noise) + 5 * (len(noise) // 0xFFFF + 1)
    assert len(blob) < stored_noise + 200_000   # the noise stored (~+0.008 %), the text compressed
    reference = io.BytesIO()
    single = CompressingWriter(reference, "gzip", threads=1)
    single.write(data)
    single.finish()
    assert blob == reference.getvalue()
