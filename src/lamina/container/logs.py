"""Container logs in docker's json-file format: capture from pipes, read back, follow.

Must not know about the runtime or records: the monitor (or a foreground ``run``) hands
it pipe fds, ``logs`` hands it a path. Each line of the file is one JSON object::

    {"log": "hello\\n", "stream": "stdout", "time": "2024-01-02T03:04:05.123456789Z"}

A chunk without a trailing newline is flushed as its own record when the pipe closes
(docker does the same at 16 KiB or EOF).
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from lamina._internal.records import Record, record
from lamina.container.model import timestamp_ns

CHUNK = 1 << 16


@record
class LogEntry(Record):
    stream: str   # "stdout" | "stderr"
    data: bytes
    time: str


class LogWriter:
    """Appends records to a json-file log; safe to share between the stdout and stderr pumps."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
        self._lock = threading.Lock()

    def write(self, stream: str, data: bytes) -> None:
        record = {"log": data.decode("utf-8", errors="replace"), "stream": stream, "time": timestamp_ns()}
        line = json.dumps(record, ensure_ascii=False).encode() + b"\n"
        with self._lock:
            self._file.write(line)

    def close(self) -> None:
        self._file.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except (BrokenPipeError, OSError):
            return  # the terminal went away: keep logging
        view = view[n:]


def _read(fd: int) -> bytes:
    """A chunk, or b"" at end of file; a pty master reports its slave's last close as EIO."""
    try:
        return os.read(fd, CHUNK)
    except OSError as exc:
        if exc.errno == errno.EIO:
            return b""
        raise


def pump(read_fd: int, stream: str, writer: LogWriter | None, echo_fd: int | None,
         tee: Callable[[str, bytes], None] | None = None) -> threading.Thread:
    """Copy *read_fd* until EOF into the log (line records), raw to *echo_fd* and to *tee* (attached
    clients); closes *read_fd*."""
    def loop() -> None:
        pending = b""
        try:
            while chunk := _read(read_fd):
                if echo_fd is not None:
                    _write_all(echo_fd, chunk)
                if tee is not None:
                    tee(stream, chunk)
                if writer is None:
                    continue
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    writer.write(stream, line + b"\n")
            if pending and writer is not None:
                writer.write(stream, pending)
        finally:
            os.close(read_fd)
    thread = threading.Thread(target=loop, name=f"log-{stream}", daemon=True)
    thread.start()
    return thread


def _parse(line: bytes) -> LogEntry | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return LogEntry(stream=str(record.get("stream", "stdout")), data=str(record.get("log", "")).encode(),
                    time=str(record.get("time", "")))


def read_logs(path: Path, *, tail: int | None = None) -> list[LogEntry]:
    """Every record of the log (the last *tail* ones when given); an absent log is empty."""
    try:
        with open(path, "rb") as f:
            lines = deque(f, maxlen=tail) if tail is not None else list(f)
    except FileNotFoundError:
        return []
    if tail == 0:
        return []
    return [e for e in (_parse(line) for line in lines) if e is not None]


def follow_logs(path: Path, *, tail: int | None, running: Callable[[], bool],
                poll: float = 0.05) -> Iterator[LogEntry]:
    """Yield the log's records, then new ones as they are written, until the container stops."""
    offset = 0
    try:
        offset = path.stat().st_size
    except FileNotFoundError:
        pass
    yield from read_logs(path, tail=tail)
    partial = b""
    while True:
        alive = running()
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            data = b""
        offset += len(data)
        *lines, partial = (partial + data).split(b"\n")
        for line in lines:
            entry = _parse(line)
            if entry is not None:
                yield entry
        if not alive:
            return
        time.sleep(poll)
