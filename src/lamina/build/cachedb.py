"""The build cache's sqlite file (``<root>/buildcache/cache.db``), opened lazily by its stores.

Must not know what the tables hold: ``CacheStore`` (steps, file hashes) and ``RecordStore``
(whole-build records) each bring their schema. Kept tiny because the cached-build fast path
imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3


class CacheDB:
    """A lazily opened sqlite connection (WAL, autocommit) created with the subclass's ``SCHEMA``."""

    SCHEMA = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            from lamina._internal import sqlite
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(self.SCHEMA)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
