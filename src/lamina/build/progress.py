"""Build progress as data: numbered vertices (BuildKit's ``#N``) and the events they emit.

The builder calls ``Progress.vertex(name)`` and the ``Vertex`` methods; a sink (the CLI, the API)
receives ``ProgressEvent`` values. ``PlainRenderer`` turns events into BuildKit's ``--progress=plain``
lines (``#5 [2/4] RUN echo hi``, ``#5 0.215 hi``, ``#5 CACHED``, ``#5 DONE 0.3s``).

Must not print, write to a terminal or import a UI library: rendering to a screen is the CLI's job.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["EventKind", "PlainRenderer", "Progress", "ProgressEvent", "Vertex"]


class EventKind(enum.StrEnum):
    START = "start"      # a vertex began (``name`` set)
    LOG = "log"          # one line of a RUN's output
    STATUS = "status"    # a sub-step line ("writing image sha256:… done")
    CACHED = "cached"    # the vertex was served from the cache
    EXPLAIN = "explain"  # --cache-explain: why the vertex missed the cache
    DONE = "done"        # the vertex finished (``elapsed`` set)
    ERROR = "error"      # the vertex failed (``text`` is the reason)
    WARNING = "warning"  # a build-wide warning (vertex 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgressEvent:
    vertex: int
    kind: EventKind
    name: str = ""
    text: str = ""
    elapsed: float = 0.0


Sink = Callable[[ProgressEvent], None]


class Vertex:
    """One numbered step of the build; emits events through its ``Progress``."""

    def __init__(self, progress: Progress, number: int, name: str) -> None:
        self.progress = progress
        self.number = number
        self.name = name
        self.started = time.monotonic()
        self._partial = b""
        self.tail: list[str] = []
        self._emit(EventKind.START, name=name)

    def _emit(self, kind: EventKind, *, name: str = "", text: str = "") -> None:
        self.progress.emit(ProgressEvent(vertex=self.number, kind=kind, name=name, text=text,
                                         elapsed=time.monotonic() - self.started))

    def output(self, chunk: bytes) -> None:
        """Feed raw process output; complete lines become LOG events (the last 10 are kept)."""
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            self.log(line.decode(errors="replace").rstrip("\r"))

    def flush(self) -> None:
        if self._partial:
            self.log(self._partial.decode(errors="replace"))
            self._partial = b""

    def log(self, text: str) -> None:
        self.tail = [*self.tail[-9:], text]
        self._emit(EventKind.LOG, text=text)

    def status(self, text: str) -> None:
        self._emit(EventKind.STATUS, text=text)

    def explain(self, text: str) -> None:
        self._emit(EventKind.EXPLAIN, text=text)

    def cached(self) -> None:
        self._emit(EventKind.CACHED)

    def done(self) -> None:
        self.flush()
        self._emit(EventKind.DONE)

    def error(self, text: str) -> None:
        self.flush()
        self._emit(EventKind.ERROR, text=text)


class Progress:
    """Numbers vertices from 1 and forwards their events to ``sink`` (None: dropped)."""

    def __init__(self, sink: Sink | None = None) -> None:
        self.sink = sink
        self.count = 0

    def emit(self, event: ProgressEvent) -> None:
        if self.sink is not None:
            self.sink(event)

    def vertex(self, name: str) -> Vertex:
        self.count += 1
        return Vertex(self, self.count, name)

    def warning(self, text: str) -> None:
        self.emit(ProgressEvent(vertex=0, kind=EventKind.WARNING, text=text))


class PlainRenderer:
    """BuildKit's plain output: ``render(event)`` returns the lines to print (maybe none)."""

    def __init__(self) -> None:
        self._started = False

    def render(self, event: ProgressEvent) -> list[str]:
        v = f"#{event.vertex}"
        kind = event.kind
        if kind == EventKind.START:
            lines = ([""] if self._started else []) + [f"{v} {event.name}"]
            self._started = True
            return lines
        if kind == EventKind.LOG:
            return [f"{v} {event.elapsed:.3f} {event.text}"]
        if kind == EventKind.DONE:
            return [f"{v} DONE {event.elapsed:.1f}s"]
        return [_SIMPLE[kind].format(v=v, text=event.text)]


_SIMPLE = {
    EventKind.STATUS: "{v} {text}",
    EventKind.CACHED: "{v} CACHED",
    EventKind.EXPLAIN: "{v} CACHE MISS: {text}",
    EventKind.ERROR: "{v} ERROR: {text}",
    EventKind.WARNING: "WARNING: {text}",
}
