"""docker's event stream without a daemon: every lamina process appends what it did to ``<root>/events``.

One JSON object per line, docker's ``/events`` shape::

    {"Type": "container", "Action": "start", "Actor": {"ID": "…", "Attributes": {"name": "web"}},
     "time": 1733450000, "timeNano": 1733450000123456789}

A line is written with one ``write`` on an ``O_APPEND`` descriptor, so lines of concurrent writers do not
interleave. Past ``MAX_BYTES`` the file is renamed to ``events.1`` (the previous ``events.1`` goes) by the
writer that crosses the size: ``lamina events`` reads both, oldest first, and follows the renames.
An event that cannot be written is dropped with a debug log: events never fail a command.
Must not import anything from lamina but ``_internal`` modules.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from lamina._internal.logs import get_logger

log = get_logger(__name__)

FILE = "events"
MAX_BYTES = 4 << 20


def emit(root: Path, kind: str, action: str, actor: str, attributes: Mapping[str, str] | None = None) -> None:
    """Record that *action* happened to *actor* (an id) of *kind* (container, image, network, volume)."""
    ns = time.time_ns()
    event = {"Type": kind, "Action": action, "Actor": {"ID": actor, "Attributes": dict(attributes or {})},
             "scope": "local", "time": ns // 1_000_000_000, "timeNano": ns}
    line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
    path = root / FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        log.debug("event not recorded (%s): %s", exc, line)
        return
    try:
        os.write(fd, line)
        if os.fstat(fd).st_size > MAX_BYTES:
            with contextlib.suppress(OSError):
                os.replace(path, root / f"{FILE}.1")
    except OSError as exc:
        log.debug("event not recorded (%s): %s", exc, line)
    finally:
        os.close(fd)


def read(root: Path, *, follow: bool = False, stop: Callable[[], bool] = lambda: False,
         poll: float = 0.1) -> Iterator[dict[str, object]]:
    """The recorded events, oldest first; with *follow*, then new ones until *stop* says so."""
    from lamina._internal.tailfile import follow_lines, position, read_from
    path = root / FILE
    start = position(path)
    yield from _events(read_from(root / f"{FILE}.1", 0))
    yield from _events(read_from(path, 0)[:start[1]])
    if follow:
        for line in follow_lines(path, root / f"{FILE}.1", start, lambda: not stop(), poll):
            yield from _events(line)


def _events(data: bytes) -> Iterator[dict[str, object]]:
    for line in data.splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict):
                yield event
