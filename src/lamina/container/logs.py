"""Container logs in docker's json-file format: capture from pipes, read back, follow.

Must not know about the runtime or records: the monitor (or a foreground ``run``) hands
it pipe fds, ``logs`` hands it a path. Each line of the file is one JSON object::

    {"log": "hello\\n", "stream": "stdout", "time": "2024-01-02T03:04:05.123456789Z"}

A chunk without a trailing newline is flushed as its own record when the pipe closes
(docker does the same at 16 KiB or EOF).

``--log-opt max-size=…`` rotates as docker's json-file driver does: a record that would take the
file past the size first renames ``path`` to ``path.1`` (``path.1`` to ``path.2`` …, the oldest
beyond ``max-file`` dropped; with ``max-file=1`` the file is started again). Readers take the
rotated files oldest first; a follower notices the rename and finishes the old file first.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
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

    def __init__(self, path: Path, *, max_size: int | None = None, max_files: int = 1) -> None:
        self._path, self._max_size, self._max_files = path, max_size, max(1, max_files)
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
        self._size = self._file.tell()
        self._lock = threading.Lock()

    def write(self, stream: str, data: bytes) -> None:
        record = {"log": data.decode("utf-8", errors="replace"), "stream": stream, "time": timestamp_ns()}
        line = json.dumps(record, ensure_ascii=False).encode() + b"\n"
        with self._lock:
            if self._max_size and self._size and self._size + len(line) > self._max_size:
                self._rotate()
            self._file.write(line)
            self._size += len(line)

    def _rotate(self) -> None:
        self._file.close()
        if self._max_files == 1:
            self._path.unlink(missing_ok=True)
        for n in range(self._max_files - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                os.replace(rotated(self._path, n - 1), rotated(self._path, n))
        self._file = open(self._path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
        self._size = 0

    def close(self) -> None:
        self._file.close()


def rotated(path: Path, n: int) -> Path:
    """The *n*-th rotated file of a log (0: the log itself)."""
    return path if n == 0 else path.with_name(f"{path.name}.{n}")


def log_files(path: Path) -> list[Path]:
    """The log's files, oldest first: ``path.N`` … ``path.1``, ``path``."""
    n = 1
    while rotated(path, n).exists():
        n += 1
    return [rotated(path, k) for k in range(n - 1, 0, -1)] + [path]


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
    """Every record of the log and its rotated files (the last *tail* ones when given); an absent log is
    empty."""
    if tail == 0:
        return []
    lines: deque[bytes] = deque(maxlen=tail)
    for file in log_files(path):
        with contextlib.suppress(FileNotFoundError), open(file, "rb") as f:
            lines.extend(f)
    return [e for e in (_parse(line) for line in lines) if e is not None]


def follow_logs(path: Path, *, tail: int | None, running: Callable[[], bool],
                poll: float = 0.05) -> Iterator[LogEntry]:
    """Yield the log's records, then new ones as they are written, until the container stops."""
    from lamina._internal.tailfile import follow_lines, position
    start = position(path)
    yield from read_logs(path, tail=tail)
    for line in follow_lines(path, rotated(path, 1), start, running, poll):
        entry = _parse(line)
        if entry is not None:
            yield entry
