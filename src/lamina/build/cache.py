"""The build cache: explicit, versioned step keys on disk, file-hash memo, and miss explanations.

A step's ``CacheKey`` is (version, parent key, instruction kind, inputs): ``inputs`` holds the
normalised instruction text and everything else the result depends on — expanded build args and
env for RUN, the content digest of the selected sources for COPY/ADD (content, mode, uid/gid, type,
link target; never mtime), the build epoch for layer steps. A stage starts from a ``FROM`` key over
the base image id. Keys chain, so a changed step changes every key after it.

On disk (``<root>/buildcache/cache.db``, sqlite, created here with CREATE TABLE IF NOT EXISTS)::

    steps(key PK, version, parent, kind, inputs JSON, details JSON, chain_id, diff_id,
          parent_chain, created)            -- one row per *finished* step; chain_id NULL = no layer
    builds(key PK, record JSON, created)    -- whole-build records (lamina.build.record), emptied by clear
    file_hashes(path PK, size, mtime_ns, ctime_ns, ino, digest)
                                           -- content digests memoised by stat, so a cached rebuild
                                              does not re-read unchanged files

``details`` (per-file digests) is kept for ``--cache-explain`` only and is not part of the key.
Rows are written only after a step finished, so a failed build caches only finished steps.

Must not touch layers or images: the builder checks a hit's layer still exists through the backend.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lamina.build.backend import LayerRef
from lamina.build.cachedb import CacheDB

if TYPE_CHECKING:
    pass

__all__ = ["CACHE_VERSION", "CacheHit", "CacheKey", "CacheStore", "FileHasher", "explain_difference"]

CACHE_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS steps (
    key TEXT PRIMARY KEY, version INTEGER NOT NULL, parent TEXT NOT NULL, kind TEXT NOT NULL,
    inputs TEXT NOT NULL, details TEXT NOT NULL, chain_id TEXT, diff_id TEXT, parent_chain TEXT,
    created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS steps_parent ON steps(parent, kind);
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, ino INTEGER, digest TEXT);
CREATE TABLE IF NOT EXISTS builds (key TEXT PRIMARY KEY, record TEXT NOT NULL, created REAL NOT NULL);
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheKey:
    """One step's cache key; ``digest`` is sha256 over its canonical JSON."""

    parent: str
    kind: str
    inputs: tuple[tuple[str, str], ...]
    version: int = CACHE_VERSION

    @classmethod
    def make(cls, parent: str, kind: str, inputs: Mapping[str, str]) -> CacheKey:
        return cls(parent=parent, kind=kind, inputs=tuple(sorted(inputs.items())))

    @property
    def digest(self) -> str:
        body = json.dumps([self.version, self.parent, self.kind, self.inputs], separators=(",", ":"))
        return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheHit:
    """A stored step result: its layer (None = the step made no layer) and the chain it ran on."""

    layer: LayerRef | None
    parent_chain: str


@dataclass(slots=True)
class _Memo:
    rows: dict[str, tuple[int, int, int, int, str]] = field(default_factory=dict)
    new: dict[str, tuple[int, int, int, int, str]] = field(default_factory=dict)


class CacheStore(CacheDB):
    """The steps table and file-hash memo in one sqlite file (opened lazily)."""

    SCHEMA = _SCHEMA

    # ------------------------------------------------------------ steps
    def lookup(self, key: CacheKey) -> CacheHit | None:
        row = self.conn.execute("SELECT chain_id, diff_id, parent_chain FROM steps WHERE key = ?",
                                (key.digest,)).fetchone()
        if row is None:
            return None
        layer = LayerRef(chain_id=row[0], diff_id=row[1]) if row[0] else None
        return CacheHit(layer=layer, parent_chain=row[2] or "")

    def record(self, key: CacheKey, hit: CacheHit, details: Mapping[str, str] | None = None) -> None:
        """Remember a finished step (replacing an older result for the same key)."""
        layer = hit.layer
        self.conn.execute(
            "INSERT OR REPLACE INTO steps VALUES (?,?,?,?,?,?,?,?,?,?)",
            (key.digest, key.version, key.parent, key.kind, json.dumps(dict(key.inputs)),
             json.dumps(dict(details or {})), layer.chain_id if layer else None,
             layer.diff_id if layer else None, hit.parent_chain, time.time()))

    def known(self, digest: str) -> bool:
        return self.conn.execute("SELECT 1 FROM steps WHERE key = ?", (digest,)).fetchone() is not None

    def candidates(self, parent: str, kind: str | None) -> list[dict[str, str]]:
        """Inputs+details of stored steps on ``parent`` (of ``kind`` when given), newest first."""
        sql = "SELECT inputs, details FROM steps WHERE parent = ?"
        params: tuple[str, ...] = (parent,)
        if kind is not None:
            sql, params = sql + " AND kind = ?", (parent, kind)
        rows = self.conn.execute(sql + " ORDER BY created DESC LIMIT 50", params).fetchall()
        return [{**json.loads(r[0]), **json.loads(r[1])} for r in rows]

    def explain(self, key: CacheKey, details: Mapping[str, str]) -> str:
        """Why ``key`` missed: the inputs that differ from the closest stored candidate."""
        wanted = {**dict(key.inputs), **details}
        found = self.candidates(key.parent, key.kind)
        if not found and key.parent and not self.known(key.parent):
            return "an earlier step changed (its result is not cached), so this step runs again"
        found = found or self.candidates(key.parent, None)
        if not found:
            return "no cached step follows the same parent (first build of this step)"
        best = max(found, key=lambda c: sum(1 for k, v in wanted.items() if c.get(k) == v))
        return explain_difference(best, wanted) or "the cached result is gone (its layer was removed)"

    def chain_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT chain_id FROM steps WHERE chain_id IS NOT NULL ORDER BY created DESC")]

    def clear(self) -> int:
        """Forget every step and file hash; returns how many steps were dropped."""
        count = int(self.conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0])
        self.conn.execute("DELETE FROM steps")
        self.conn.execute("DELETE FROM file_hashes")
        self.conn.execute("DELETE FROM builds")
        return count

    # ------------------------------------------------------------ file hashes
    def load_file_hashes(self) -> dict[str, tuple[int, int, int, int, str]]:
        rows = self.conn.execute("SELECT path, size, mtime_ns, ctime_ns, ino, digest FROM file_hashes")
        return {r[0]: (r[1], r[2], r[3], r[4], r[5]) for r in rows}

    def save_file_hashes(self, rows: Mapping[str, tuple[int, int, int, int, str]]) -> None:
        if rows:  # one transaction: autocommit would make every row its own WAL commit
            self.conn.execute("BEGIN")
            try:
                self.conn.executemany("INSERT OR REPLACE INTO file_hashes VALUES (?,?,?,?,?,?)",
                                      [(p, *v) for p, v in rows.items()])
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")


class FileHasher:
    """sha256 of regular files, memoised by (size, mtime_ns, ctime_ns, inode) across builds."""

    def __init__(self, store: CacheStore | None = None) -> None:
        self.store = store
        self._memo: _Memo | None = None
        self.hashed_bytes = 0

    def _loaded(self) -> _Memo:
        if self._memo is None:
            self._memo = _Memo(rows=self.store.load_file_hashes() if self.store else {})
        return self._memo

    def digest(self, path: str, st: os.stat_result) -> str:
        memo = self._loaded()
        stamp = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        known = memo.rows.get(path)
        if known is not None and known[:4] == stamp:
            return known[4]
        digest = _sha256_file(path)
        self.hashed_bytes += st.st_size
        memo.rows[path] = memo.new[path] = (*stamp, digest)
        return digest

    def save(self) -> None:
        if self.store is not None and self._memo is not None and self._memo.new:
            self.store.save_file_hashes(self._memo.new)
            self._memo.new = {}


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
    finally:
        os.close(fd)
    return h.hexdigest()


# ---------------------------------------------------------------- explanations
_LABELS = {"arg": "build arg", "env": "env", "mount": "mount"}


def explain_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """Human text for the inputs that differ between a cached candidate and this step."""
    parts: list[str] = []
    files = _file_changes(old, new)
    if files:
        parts.append(files)
    for name in sorted(set(old) | set(new)):
        if name.startswith("file:") or old.get(name) == new.get(name) or (name == "files" and files):
            continue
        parts.append(_one_difference(name, old.get(name), new.get(name), new))
    return "; ".join(parts)


def _one_difference(name: str, before: Any, after: Any, new: Mapping[str, Any]) -> str:
    if name == "image_id":
        return f"base image {new.get('image', '')} changed: {before} -> {after}"
    if name == "files":
        return "source files changed"
    prefix, _, rest = name.partition(":")
    label = f"{_LABELS[prefix]} {rest}" if prefix in _LABELS and rest else name
    if before is None:
        return f"{label} added ({after!r})"
    if after is None:
        return f"{label} removed (was {before!r})"
    return f"{label} changed: {before!r} -> {after!r}"


def _file_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    olds = {k[5:]: v for k, v in old.items() if k.startswith("file:")}
    news = {k[5:]: v for k, v in new.items() if k.startswith("file:")}
    groups = (("changed", sorted(p for p in news if p in olds and olds[p] != news[p])),
              ("added", sorted(p for p in news if p not in olds)),
              ("removed", sorted(p for p in olds if p not in news)))
    return "; ".join(f"file{'s' if len(paths) > 1 else ''} {verb}: {_some(paths)}"
                     for verb, paths in groups if paths)


def _some(paths: Iterable[str], limit: int = 5) -> str:
    items = list(paths)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
