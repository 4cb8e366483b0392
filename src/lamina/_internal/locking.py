"""File locks over ``fcntl.flock``, taken only through ``with FileLock(...)``.

Must not know what it protects.

LOCK ORDER (take in this order, release in reverse; never the other way):
    1. store metadata lock   <root>/locks/store.lock
    2. image store           <root>/locks/images.lock   (sqlite has its own locking too)
    3. layer store           <root>/locks/layers.lock
    4. container store       <root>/locks/containers.lock
    5. per-container lock    <root>/containers/<id>/lock
Blob writes take no lock: they stage in a flocked staging dir and rename.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from types import TracebackType

from lamina.errors import LockTimeout


class FileLock:
    """A shared or exclusive flock on *path* (created if missing), with an optional timeout in seconds."""

    def __init__(self, path: str | os.PathLike[str], *, exclusive: bool = True,
                 timeout: float | None = 60.0) -> None:
        self.path = os.fspath(path)
        self.exclusive = exclusive
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        op = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, op | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeout(self.path) from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def try_lock(path: str | os.PathLike[str]) -> FileLock | None:
    """Take an exclusive lock without waiting; None if another process holds it."""
    lock = FileLock(path, exclusive=True, timeout=0)
    try:
        lock.acquire()
    except LockTimeout:
        return None
    return lock
