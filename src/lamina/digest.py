"""The ``Digest`` value type (``algorithm:hex``) and hashing helpers.

Must not do I/O beyond the file-like objects it is handed.

A digest is validated before it can become a path (umoci's ``blobPath``): only
``sha256`` (64 lower-case hex) and ``sha512`` (128) are accepted.
"""

from __future__ import annotations

from lamina._internal.records import Record, record
from lamina.errors import DigestMismatch, InvalidDigest, SizeMismatch

TYPE_CHECKING = False
if TYPE_CHECKING:
    import hashlib
    from typing import BinaryIO

_HEX_LEN = {"sha256": 64, "sha512": 128}
CHUNK = 1 << 20


def is_lower_hex(text: str) -> bool:
    """True for a non-empty string of ``0-9a-f`` only."""
    return bool(text) and not text.strip("0123456789abcdef")


@record(kw_only=False)
class Digest(Record):
    """A content digest such as ``sha256:e3b0…``; ``str()`` gives the canonical form."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        want = _HEX_LEN.get(self.algorithm)
        text = f"{self.algorithm}:{self.hex}"
        if want is None:
            raise InvalidDigest(text, f"unsupported algorithm {self.algorithm!r}")
        if len(self.hex) != want or not is_lower_hex(self.hex):
            raise InvalidDigest(text, f"{self.algorithm} needs {want} lower-case hex characters")

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``algo:hex``; raises InvalidDigest naming the input."""
        algo, sep, hexpart = text.partition(":")
        if not sep:
            raise InvalidDigest(text, "missing algorithm prefix (want sha256:<hex>)")
        return cls(algo, hexpart)

    @classmethod
    def of_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(algorithm, new_hash(algorithm, data).hexdigest())

    @classmethod
    def from_hash(cls, h: hashlib._Hash) -> Digest:
        return cls(h.name, h.hexdigest())

    @property
    def encoded(self) -> str:
        return self.hex

    @property
    def short(self) -> str:
        """The 12-character id docker shows in tables."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def new_hash(self) -> hashlib._Hash:
        return new_hash(self.algorithm)


def new_hash(algorithm: str = "sha256", data: bytes = b"") -> hashlib._Hash:
    """A hashlib object; hashlib (OpenSSL, ~3 ms) is loaded on first use, not at start-up."""
    import hashlib
    return hashlib.new(algorithm, data)


def hexdigest(algorithm: str, data: bytes) -> str:
    """The hex digest of bytes in memory. sha256 uses CPython's own ``_sha256``: for configs and
    manifests it is as fast as OpenSSL's and ~2 ms cheaper to load (``lamina run`` verifies one)."""
    if algorithm == "sha256":
        try:
            from _sha256 import sha256  # type: ignore[import-not-found]
        except ImportError:  # a Python built without it
            return new_hash(algorithm, data).hexdigest()
        return str(sha256(data).hexdigest())
    return new_hash(algorithm, data).hexdigest()


def sha256_digest(data: bytes) -> Digest:
    return Digest("sha256", hexdigest("sha256", data))


class VerifyingReader:
    """Wraps a binary stream; at EOF checks size and digest, raising instead of returning the last read.

    Truncated or altered content is an error, never data: the final ``read`` that
    reaches EOF raises ``SizeMismatch``/``DigestMismatch`` if the bytes differ.
    """

    def __init__(self, raw: BinaryIO, digest: Digest, size: int | None) -> None:
        self._raw = raw
        self._digest = digest
        self._size = size
        self._hash = digest.new_hash()
        self._count = 0
        self._verified = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            chunks = []
            while chunk := self.read(CHUNK):
                chunks.append(chunk)
            return b"".join(chunks)
        data = self._raw.read(n)
        if data:
            self._count += len(data)
            self._hash.update(data)
            if self._size is not None and self._count > self._size:
                raise SizeMismatch(str(self._digest), self._size, self._count)
        else:
            self.verify()
        return data

    def verify(self) -> None:
        if self._verified:
            return
        if self._size is not None and self._count != self._size:
            raise SizeMismatch(str(self._digest), self._size, self._count)
        got = self._hash.hexdigest()
        if got != self._digest.hex:
            raise DigestMismatch(str(self._digest), f"{self._digest.algorithm}:{got}")
        self._verified = True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> VerifyingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
