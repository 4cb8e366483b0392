"""Whole-build records: the fast path of a fully cached ``lamina build``.

A finished build stores one record under a ``build key``: a sha256 over everything the result
depends on that can be read without parsing the Dockerfile or hashing a file — the Dockerfile
bytes, the build flags (args, target, labels, network, platform, epoch) and a *stat manifest* of
the context: for every path the build could read (``.dockerignore`` applied) its relative path,
type/mode, size, uid/gid, mtime_ns, ctime_ns and inode. No file is read. ctime cannot be set from
user space, so any write to a context file changes the manifest; a miss only means the normal
step-by-step build runs (and serves its steps from the layer cache).

The record keeps the image id, the base images by name with the ids they resolved to (a re-tagged
base invalidates it), the warnings, and the progress vertices of the build, so a replay prints
what a fully cached build prints (layer steps as ``CACHED``).

On disk: table ``builds(key PK, record JSON, created)`` in ``<root>/buildcache/cache.db`` (the same
sqlite file as ``lamina.build.cache``, whose ``clear`` empties it; ``builder prune`` forgets it).

Must stay cheap to import (it is the whole fully-cached path): no Dockerfile parser, no
instruction types, no tar or compression; never reads file contents.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.build.cachedb import CacheDB

if TYPE_CHECKING:

    from lamina.build.ignore import PatternMatcher
    from lamina.build.progress import Progress, ProgressEvent, Sink

__all__ = ["RECORD_VERSION", "BuildRecord", "BuildResult", "RecordStore", "Recorder", "VertexRecord", "build_key",
           "context_manifest", "export_vertex", "replay"]

RECORD_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS builds (key TEXT PRIMARY KEY, record TEXT NOT NULL, created REAL NOT NULL);
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildResult:
    image_id: str
    tags: tuple[str, ...]
    cached: int
    built: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class VertexRecord:
    """One progress vertex to replay: a layer step (shown ``CACHED``) or an internal one (its statuses)."""

    name: str
    statuses: tuple[str, ...] = ()
    step: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildRecord:
    """What a replay needs: the image, the base images it was built on, what to print."""

    image_id: str
    bases: tuple[tuple[str, str], ...]
    vertices: tuple[VertexRecord | str, ...]   # a plain str is a warning line
    warnings: tuple[str, ...] = ()

    @property
    def steps(self) -> int:
        return sum(1 for v in self.vertices if isinstance(v, VertexRecord) and v.step)

    def to_json(self) -> str:
        items = [v if isinstance(v, str) else [v.name, list(v.statuses), v.step] for v in self.vertices]
        return json.dumps({"v": RECORD_VERSION, "image_id": self.image_id, "bases": self.bases,
                           "vertices": items, "warnings": self.warnings}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> BuildRecord | None:
        data = json.loads(text)
        if data.get("v") != RECORD_VERSION:
            return None
        vertices = tuple(v if isinstance(v, str) else VertexRecord(name=v[0], statuses=tuple(v[1]), step=v[2])
                         for v in data["vertices"])
        return cls(image_id=data["image_id"], bases=tuple((n, i) for n, i in data["bases"]),
                   vertices=vertices, warnings=tuple(data["warnings"]))


# ---------------------------------------------------------------- the key
def build_key(*, dockerfile: str, dockerfile_name: str, context: str, flags: Mapping[str, Any]) -> str:
    """sha256 over the Dockerfile, the context manifest digest and the build flags (JSON-able)."""
    body = json.dumps([RECORD_VERSION, dockerfile, dockerfile_name, context, dict(sorted(flags.items()))],
                      separators=(",", ":"), sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def context_manifest(root: Path, dockerfile: Path | None = None) -> str:
    """A digest of the context's stat data (``.dockerignore`` applied); reads no file contents."""
    matcher, patterns = _matcher(root, dockerfile)
    top = os.lstat(root)
    rows: list[tuple[object, ...]] = [(str(root.resolve()), patterns, top.st_mode, top.st_uid, top.st_gid,
                                       top.st_ino, top.st_dev)]
    rows.extend((rel, st.st_mode, st.st_size, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
                 st.st_dev) for rel, st in _walk(os.fspath(root), "", matcher))
    return "sha256:" + hashlib.sha256(repr(rows).encode("utf-8", "surrogateescape")).hexdigest()


def _matcher(root: Path, dockerfile: Path | None) -> tuple[PatternMatcher | None, list[str]]:
    if not any(p.exists() for p in _ignore_files(root, dockerfile)):
        return None, []
    from lamina.build.ignore import PatternMatcher, context_patterns
    patterns = context_patterns(root, dockerfile)
    return (PatternMatcher(patterns) if patterns else None), patterns


def _ignore_files(root: Path, dockerfile: Path | None) -> list[Path]:
    found = [root / ".dockerignore"]
    if dockerfile is not None:
        found.append(Path(str(dockerfile) + ".dockerignore"))
    return found


def _walk(top: str, prefix: str, matcher: PatternMatcher | None) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of every kept entry, sorted, parents first (like SourceTree.walk)."""
    with os.scandir(os.path.join(top, prefix) if prefix else top) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        rel = prefix + entry.name
        st = entry.stat(follow_symlinks=False)
        is_dir = stat.S_ISDIR(st.st_mode)
        if matcher is not None and matcher.matches(rel):
            if is_dir and matcher.could_include_below(rel):
                yield from _walk(top, rel + "/", matcher)
            continue
        yield rel, st
        if is_dir:
            yield from _walk(top, rel + "/", matcher)


# ---------------------------------------------------------------- the store
class RecordStore(CacheDB):
    """``builds`` rows in the build cache's sqlite file (opened lazily)."""

    SCHEMA = _SCHEMA

    def lookup(self, key: str) -> BuildRecord | None:
        if not self.path.exists():
            return None
        row = self.conn.execute("SELECT record FROM builds WHERE key = ?", (key,)).fetchone()
        return BuildRecord.from_json(row[0]) if row else None

    def save(self, key: str, record: BuildRecord, keep: int = 200) -> None:
        """Store ``record`` under ``key``; only the newest ``keep`` records are kept."""
        self.conn.execute("INSERT OR REPLACE INTO builds VALUES (?,?,?)", (key, record.to_json(), time.time()))
        self.conn.execute("DELETE FROM builds WHERE key NOT IN (SELECT key FROM builds ORDER BY created DESC"
                          " LIMIT ?)", (keep,))



# ---------------------------------------------------------------- progress
def export_vertex(progress: Progress, image_id: str, tags: Sequence[str]) -> None:
    """BuildKit's last vertex: ``exporting to image`` … ``writing image`` … ``naming to``."""
    vertex = progress.vertex("exporting to image")
    vertex.status("exporting layers done")
    vertex.status(f"writing image {image_id} done")
    for tag in tags:
        vertex.status(f"naming to {tag} done")
    vertex.done()


def replay(record: BuildRecord, progress: Progress, tags: Sequence[str]) -> None:
    """Print a fully cached build of ``record``: its vertices (steps ``CACHED``), warnings, the export."""
    for item in record.vertices:
        if isinstance(item, str):
            progress.warning(item)
            continue
        vertex = progress.vertex(item.name)
        if item.step:
            vertex.cached()
            continue
        for text in item.statuses:
            vertex.status(text)
        vertex.done()
    export_vertex(progress, record.image_id, tags)
    for text in record.warnings:
        progress.warning(text)


class Recorder:
    """A progress sink that forwards events to ``sink`` and remembers what a replay prints."""

    def __init__(self, sink: Sink | None) -> None:
        self.sink = sink
        self.order: list[int | str] = []       # vertex numbers and warning texts, in order
        self.names: dict[int, str] = {}
        self.statuses: dict[int, list[str]] = {}
        self.export: int | None = None
        self.tail: list[str] = []              # warnings after the export vertex

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "start":
            self._start(event.vertex, event.name)
        elif event.kind == "status" and event.vertex in self.statuses:
            self.statuses[event.vertex].append(event.text)
        elif event.kind == "warning" and self.export is not None:
            self.tail.append(event.text)
        elif event.kind == "warning":
            self.order.append(event.text)
        if self.sink is not None:
            self.sink(event)

    def _start(self, number: int, name: str) -> None:
        if name == "exporting to image":
            self.export = number
            return
        self.order.append(number)
        self.names[number] = name
        self.statuses[number] = []

    def record(self, image_id: str, bases: Mapping[str, str], steps: set[int]) -> BuildRecord:
        vertices = tuple(item if isinstance(item, str) else
                         VertexRecord(name=self.names[item], statuses=tuple(self.statuses[item]),
                                      step=item in steps) for item in self.order)
        return BuildRecord(image_id=image_id, bases=tuple(sorted(bases.items())), vertices=vertices,
                           warnings=tuple(self.tail))
