"""Digest parsing/validation and VerifyingReader's end-of-stream checks."""

from __future__ import annotations

import hashlib
import io

import pytest

from lamina.digest import Digest, VerifyingReader, sha256_digest
from lamina.errors import DataCorruption, DigestMismatch, InvalidArgument, InvalidDigest, SizeMismatch

EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
PAYLOAD = b"hello lamina\n" * 1000


@pytest.mark.parametrize("text", [
    EMPTY,
    "sha256:" + "0" * 64,
    "sha512:" + "f" * 128,
])
def test_parse_valid_round_trips(text):
    d = Digest.parse(text)
    assert str(d) == text
    assert d.algorithm == text.split(":")[0]
    assert d.hex == d.encoded == text.split(":")[1]
    assert d.short == d.hex[:12]


@pytest.mark.parametrize(("text", "reason_part"), [
    ("", "missing algorithm"),
    ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "missing algorithm"),
    ("sha256:", "64 lower-case hex"),
    ("sha256:abc", "64 lower-case hex"),
    ("sha256:" + "A" * 64, "64 lower-case hex"),
    ("sha256:" + "g" * 64, "64 lower-case hex"),
    ("sha256:" + "a" * 65, "64 lower-case hex"),
    ("sha512:" + "a" * 64, "128 lower-case hex"),
    ("md5:" + "a" * 32, "unsupported algorithm"),
    ("SHA256:" + "a" * 64, "unsupported algorithm"),
    ("sha256+b64:" + "a" * 64, "unsupported algorithm"),
    ("sha256:../../etc/passwd", "64 lower-case hex"),
])
def test_parse_invalid(text, reason_part):
    with pytest.raises(InvalidDigest) as info:
        Digest.parse(text)
    assert reason_part in info.value.reason
    assert info.value.digest.startswith(text.partition(":")[0]) or not text
    assert isinstance(info.value, InvalidArgument)


def test_of_bytes_and_sha256_digest_agree():
    assert str(Digest.of_bytes(b"")) == EMPTY
    assert sha256_digest(b"abc") == Digest.of_bytes(b"abc")
    assert Digest.of_bytes(b"abc", "sha512").hex == hashlib.sha512(b"abc").hexdigest()
    h = hashlib.sha256(b"abc")
    assert Digest.from_hash(h) == sha256_digest(b"abc")


def test_digest_is_hashable_value():
    assert {Digest.parse(EMPTY), Digest.parse(EMPTY)} == {Digest.of_bytes(b"")}


def _reader(data: bytes, digest: Digest, size: int | None) -> VerifyingReader:
    return VerifyingReader(io.BytesIO(data), digest, size)


@pytest.mark.parametrize("chunk", [1, 7, 4096, -1])
def test_verifying_reader_passes_good_content(chunk):
    reader = _reader(PAYLOAD, sha256_digest(PAYLOAD), len(PAYLOAD))
    out = bytearray()
    while True:
        data = reader.read(chunk)
        if not data:
            break
        out += data
        if chunk == -1:
            assert reader.read(1) == b""
            break
    assert bytes(out) == PAYLOAD
    reader.verify()  # idempotent once verified


def test_verifying_reader_without_size_checks_digest_only():
    assert _reader(PAYLOAD, sha256_digest(PAYLOAD), None).read() == PAYLOAD


def test_truncated_content_raises_size_mismatch_at_eof():
    reader = _reader(PAYLOAD[:-1], sha256_digest(PAYLOAD), len(PAYLOAD))
    with pytest.raises(SizeMismatch) as info:
        reader.read()
    assert info.value.expected == len(PAYLOAD)
    assert info.value.actual == len(PAYLOAD) - 1
    assert isinstance(info.value, DataCorruption)


def test_flipped_byte_raises_digest_mismatch():
    bad = bytearray(PAYLOAD)
    bad[100] ^= 0x01
    reader = _reader(bytes(bad), sha256_digest(PAYLOAD), len(PAYLOAD))
    with pytest.raises(DigestMismatch) as info:
        while reader.read(512):
            pass
    assert info.value.digest == str(sha256_digest(PAYLOAD))
    assert info.value.actual == str(sha256_digest(bytes(bad)))


def test_extra_bytes_raise_size_mismatch_before_eof():
    reader = _reader(PAYLOAD + b"x", sha256_digest(PAYLOAD), len(PAYLOAD))
    with pytest.raises(SizeMismatch) as info:
        reader.read()
    assert info.value.actual == len(PAYLOAD) + 1


def test_flipped_byte_without_size_still_caught():
    reader = _reader(b"hellp", sha256_digest(b"hello"), None)
    with pytest.raises(DigestMismatch):
        reader.read()


def test_reader_context_manager_closes_raw():
    raw = io.BytesIO(b"")
    with VerifyingReader(raw, Digest.parse(EMPTY), 0) as reader:
        assert reader.readable()
        assert reader.read() == b""
    assert raw.closed
