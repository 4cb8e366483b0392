"""Rendering transfer progress (pull/push) like docker: per-layer lines, live bars on a tty.

Must not hold logic beyond drawing: it receives ProgressEvent data and writes to stderr/stdout.
rich is imported only when a terminal is attached (start-up cost).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

_BAR_ACTIONS = {"Downloading", "Pushing", "Extracting"}


class TransferProgress:
    """Collects per-blob events; prints a line per state change, or live bars on a tty."""

    def __init__(self, *, quiet: bool = False, stream: Any = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() and not quiet
        self.lock = threading.Lock()
        self.last: dict[str, str] = {}
        self._live: Any = None
        self._bars: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> TransferProgress:
        if self.tty:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn
            self._bars = Progress(TextColumn("{task.fields[blob]}: {task.description}"), BarColumn(),
                                  DownloadColumn(), transient=False)
            self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bars is not None:
            self._bars.stop()

    def __call__(self, event: Any) -> None:
        if self.quiet:
            return
        with self.lock:
            if self._bars is not None:
                self._draw(event)
            elif self.last.get(event.id) != event.action:
                self.last[event.id] = event.action
                detail = f" {event.detail}" if event.detail else ""
                print(f"{event.id}: {event.action}{detail}", file=self.stream, flush=True)

    def _draw(self, event: Any) -> None:
        task = self._tasks.get(event.id)
        if task is None:
            task = self._bars.add_task(event.action, blob=event.id, total=event.total)
            self._tasks[event.id] = task
        completed = event.current if event.action in _BAR_ACTIONS else (event.total or event.current)
        self._bars.update(task, description=event.action + (f" {event.detail}" if event.detail else ""),
                          completed=completed, total=event.total)

    def line(self, text: str) -> None:
        if not self.quiet or text:
            print(text, file=self.stream, flush=True)
