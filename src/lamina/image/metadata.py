"""The sqlite database that records layers, images and tags under the store root.

Must not touch blobs or driver directories: it only records facts about them.

Schema (version 1):
    layers(chain_id PK, diff_id, parent → layers.chain_id, layer_id (driver dir id), size,
           blob_digest, blob_size, media_type, created)
    images(id PK = config digest, manifest_digest, manifest_media_type, top_chain → layers, created, size,
           added)
    image_layers(image_id → images, position, chain_id → layers)   -- the layer refcounts
    image_blobs(image_id → images, digest)                          -- config, manifest, layer blobs held
    tags(name PK, image_id → images)                                -- full references "docker.io/library/x:t"
    repo_digests(name PK, image_id)                                 -- "repo@sha256:…" of pushed/pulled manifests

A layer's reference count is the number of ``image_layers`` rows naming it plus its children
in ``layers``; it can go once both are zero. Writes use ``BEGIN IMMEDIATE`` so two lamina processes
serialise on the database instead of failing, with a busy timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lamina._internal import sqlite

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS layers (
    chain_id TEXT PRIMARY KEY,
    diff_id TEXT NOT NULL,
    parent TEXT REFERENCES layers(chain_id),
    layer_id TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    blob_digest TEXT,
    blob_size INTEGER,
    media_type TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS layers_parent ON layers(parent);
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    manifest_digest TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    top_chain TEXT REFERENCES layers(chain_id),
    created TEXT,
    size INTEGER NOT NULL,
    added REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    chain_id TEXT NOT NULL REFERENCES layers(chain_id),
    PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS image_blobs (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    PRIMARY KEY (image_id, digest)
);
CREATE INDEX IF NOT EXISTS image_blobs_digest ON image_blobs(digest);
CREATE TABLE IF NOT EXISTS tags (
    name TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);
CREATE TABLE IF NOT EXISTS repo_digests (
    name TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class MetadataDB:
    """A connection to ``<root>/lamina.db``; use ``transaction()`` for every write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite.Row
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA busy_timeout = 60000")
        if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        if self._user_version() != SCHEMA_VERSION:
            with self.transaction() as cur:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        cur.execute(stmt)
                cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _user_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """An IMMEDIATE transaction: committed when the block ends, rolled back on error."""
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def close(self) -> None:
        self.conn.close()
