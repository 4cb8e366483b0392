"""LayerStore: read-only layers kept once by ChainID, each backed by a driver directory.

Must not parse manifests or talk to registries; it is handed layer blobs and diffIDs.

A layer is registered by applying its (compressed) blob from the blob store into a fresh
driver directory while hashing the uncompressed stream; the diffID must match the one the
image config promises, or the directory is removed and ``DigestMismatch`` raised. Only then
is the row committed to sqlite, so a crash leaves at most an unreferenced driver directory,
which ``orphans()`` finds and ``system check --repair`` removes. Two images sharing a base
share its rows and directories: ``image_layers`` holds the references.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from lamina._internal.logs import get_logger
from lamina._internal.records import Record, record
from lamina.digest import CHUNK, Digest, new_hash
from lamina.errors import DigestMismatch, LayerNotFound
from lamina.layer.ids import chain_id as compute_chain_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from typing import BinaryIO, TypeVar

    from lamina.driver.protocol import Driver
    from lamina.image.metadata import MetadataDB
    from lamina.spec.mediatypes import Compression
    from lamina.store.blobs import BlobInfo, BlobStore
    from lamina.store.protocol import BlobStoreProtocol

log = get_logger(__name__)
if TYPE_CHECKING:
    T = TypeVar("T")


@record
class Layer(Record):
    """One read-only layer: identity (chain_id, diff_id), where it lives (layer_id) and its blob."""

    chain_id: Digest
    diff_id: Digest
    parent: Digest | None
    layer_id: str
    size: int
    blob_digest: Digest | None
    blob_size: int
    media_type: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Layer:
        return cls(
            chain_id=Digest.parse(row["chain_id"]), diff_id=Digest.parse(row["diff_id"]),
            parent=Digest.parse(row["parent"]) if row["parent"] else None,
            layer_id=row["layer_id"], size=row["size"],
            blob_digest=Digest.parse(row["blob_digest"]) if row["blob_digest"] else None,
            blob_size=row["blob_size"] or 0, media_type=row["media_type"] or "",
        )


class _HashingReader:
    """Passes a stream through while hashing it; ``drain()`` consumes what the reader left."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.hash = new_hash()

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.hash.update(data)
        return data

    def drain(self) -> Digest:
        while self.read(CHUNK):
            pass
        return Digest("sha256", self.hash.hexdigest())


def compress_layer_blob(blobs: BlobStoreProtocol, write_tar: Callable[[BinaryIO], T],
                        compression: Compression = "gzip", *, check: Callable[[Digest], None] | None = None,
                        direct: bool = False) -> tuple[Digest, BlobInfo, T]:
    """Store the uncompressed layer tar *write_tar* writes as a compressed blob.

    Returns (diffID, the blob, what *write_tar* returned). The compressed bytes are hashed once,
    by the blob writer. *check* sees the diffID before the blob is published and may raise
    (nothing is then left behind); *direct* is ``BlobWriter``'s.
    """
    from typing import cast

    from lamina.layer.compression import CompressingWriter
    with blobs.writer(direct=direct) as out:
        writer = CompressingWriter(out, compression, hash_output=False)  # type: ignore[arg-type]  # file-like
        result = write_tar(cast("BinaryIO", writer))
        diff_id, _ = writer.finish_plain()
        if check is not None:
            check(diff_id)
        return diff_id, out.commit(), result


def next_chain_id(parent: Layer | None, diff_id: Digest) -> Digest:
    """The ChainID of *diff_id* stacked on *parent* (ChainID(parent) + " " + DiffID, hashed)."""
    return compute_chain_id([parent.chain_id, diff_id] if parent else [diff_id])


class LayerStore:
    """ChainID → layer records in sqlite, backed by driver directories and compressed blobs."""

    def __init__(self, db: MetadataDB, driver: Callable[[], Driver], blobs: BlobStore) -> None:
        self.db = db
        self._driver = driver
        self.blobs = blobs

    @property
    def driver(self) -> Driver:
        """The storage driver, opened (and probed) only when a layer directory is touched."""
        return self._driver()

    def get(self, chain_id: Digest) -> Layer:
        row = self.db.one("SELECT * FROM layers WHERE chain_id = ?", (str(chain_id),))
        if row is None:
            raise LayerNotFound(str(chain_id))
        return Layer.from_row(row)

    def find(self, chain_id: Digest) -> Layer | None:
        row = self.db.one("SELECT * FROM layers WHERE chain_id = ?", (str(chain_id),))
        return Layer.from_row(row) if row else None

    def stack(self, diff_ids: Sequence[Digest]) -> list[Layer]:
        """The layers for an image's diff_ids, bottom first; LayerNotFound if any is missing."""
        return [self.get(compute_chain_id(diff_ids[: i + 1])) for i in range(len(diff_ids))]

    def ensure(self, diff_id: Digest, parent: Layer | None, blob_digest: Digest, blob_size: int,
               media_type: str, progress: Callable[[int], None] | None = None) -> Layer:
        """Return the layer for *diff_id* on *parent*, applying the blob if it is not stored yet.

        Idempotent. Raises BlobNotFound, DigestMismatch (blob or diffID) and InvalidLayer;
        on any error nothing is recorded and the driver directory is removed.
        """
        chain = next_chain_id(parent, diff_id)
        existing = self.find(chain)
        if existing is not None:
            return existing
        layer_id = os.urandom(16).hex()
        parent_id = parent.layer_id if parent else None
        self.driver.create(layer_id, parent_id)
        try:
            with self.blobs.open(blob_digest, blob_size) as raw:
                size = self.apply_stream(layer_id, parent_id, raw, diff_id,  # type: ignore[arg-type]
                                         what=f"layer {blob_digest}")
        except BaseException:
            self.driver.remove(layer_id)
            raise
        return self._record(chain, diff_id, parent, layer_id, size, blob_digest, blob_size, media_type)

    def adopt(self, layer_id: str, diff_id: Digest, parent: Layer | None, *, size: int, blob_digest: Digest,
              blob_size: int, media_type: str) -> Layer:
        """Register the existing driver directory *layer_id* as the layer for *diff_id* on *parent*.

        For a caller that produced the directory and the blob from the same content (a build step
        sealing its writable layer), so nothing is applied or re-hashed here: the caller vouches that
        the directory holds exactly the blob's diff and that it is no longer written to. If the
        ChainID is registered already (another process won), *layer_id* is removed and the stored
        layer returned.
        """
        return self._record(next_chain_id(parent, diff_id), diff_id, parent, layer_id, size, blob_digest,
                            blob_size, media_type)

    def apply_stream(self, layer_id: str, parent_id: str | None, compressed: BinaryIO, diff_id: Digest,
                     *, what: str) -> int:
        """Decompress *compressed* into the existing, empty driver directory *layer_id*; returns its size.

        Hashes the uncompressed tar and raises DigestMismatch (naming *what*) unless it is *diff_id*;
        reads *compressed* to its end. Records nothing: the caller removes the directory on error
        and ``adopt``s it once the compressed blob is verified as well.
        """
        from lamina.layer.compression import open_decompressed  # not on the run path
        hashing = _HashingReader(open_decompressed(compressed))
        size = self.driver.apply_diff(layer_id, parent_id, hashing)  # type: ignore[arg-type]
        got = hashing.drain()
        while compressed.read(CHUNK):  # to EOF: a verifying reader checks the blob digest there
            pass
        if got != diff_id:
            raise DigestMismatch(str(diff_id), str(got), what=f"{what} diff_id")
        return size

    def _record(self, chain: Digest, diff_id: Digest, parent: Layer | None, layer_id: str, size: int,
                blob_digest: Digest, blob_size: int, media_type: str) -> Layer:
        with self.db.transaction() as cur:
            row = cur.execute("SELECT * FROM layers WHERE chain_id = ?", (str(chain),)).fetchone()
            if row is not None:  # another process won the race: keep theirs
                self.driver.remove(layer_id)
                return Layer.from_row(row)
            cur.execute(
                "INSERT INTO layers VALUES (?,?,?,?,?,?,?,?,?)",
                (str(chain), str(diff_id), str(parent.chain_id) if parent else None, layer_id, size,
                 str(blob_digest), blob_size, media_type, time.time()))
        log.debug("layer registered chain_id=%s layer_id=%s size=%d", chain, layer_id, size)
        return self.get(chain)

    def references(self, chain_id: Digest) -> int:
        """How many images and child layers hold this layer."""
        row = self.db.one(
            "SELECT (SELECT COUNT(*) FROM image_layers WHERE chain_id = ?)"
            " + (SELECT COUNT(*) FROM layers WHERE parent = ?)", (str(chain_id), str(chain_id)))
        return int(row[0]) if row else 0

    def release(self, top: Digest | None) -> list[Layer]:
        """Remove *top* and then its parents while nothing references them; returns what went."""
        removed: list[Layer] = []
        current = top
        while current is not None:
            layer = self.find(current)
            if layer is None or self.references(current) > 0:
                break
            with self.db.transaction() as cur:
                cur.execute("DELETE FROM layers WHERE chain_id = ?", (str(current),))
            self.driver.remove(layer.layer_id)
            removed.append(layer)
            current = layer.parent
        return removed

    def all(self) -> list[Layer]:
        return [Layer.from_row(r) for r in self.db.query("SELECT * FROM layers")]
