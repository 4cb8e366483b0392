"""Session: this process's claim on a store root, and the cheap crash check on every start-up.

Must not import the system service or anything heavy: every CLI command opens a session.

Every Engine holds a shared flock on ``sessions/.gate`` and an exclusively locked marker file
``sessions/<pid>-<rand>``, removed by ``close``. Opening first tries the gate exclusively without
waiting; only if that succeeds (no other live lamina process) and a marker of a dead process is
left (a crash) does it run the recovery callback (``SystemService.recover``). The hot path is one
flock, one listdir and one file create.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from lamina._internal.logs import get_logger

log = get_logger(__name__)

GATE = ".gate"


class Session:
    """This process's claim on a root; see the module docstring (start-up recovery)."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "sessions"
        self._gate: int | None = None
        self._marker: int | None = None
        self.marker_path: Path | None = None

    def open(self, recover: Callable[[], object]) -> bool:
        """Join the root; run *recover* first when a crashed session left a marker. True if it ran."""
        self.dir.mkdir(exist_ok=True)
        self._gate = os.open(self.dir / GATE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        recovered = False
        if _flock(self._gate, fcntl.LOCK_EX, wait=False):
            dead = self._dead_markers()
            if dead:
                recovered = self._recover(recover, dead)
            _flock(self._gate, fcntl.LOCK_SH, wait=True)   # downgrade (not atomic; harmless)
        else:
            _flock(self._gate, fcntl.LOCK_SH, wait=True)
        self._make_marker()
        return recovered

    def _recover(self, recover: Callable[[], object], dead: list[Path]) -> bool:
        try:
            recover()
        except Exception:  # recovery must never make the CLI unusable: keep the markers, retry later
            log.warning("start-up recovery failed; run 'lamina system check --repair'", exc_info=True)
            return False
        for path in dead:
            path.unlink(missing_ok=True)
        log.info("start-up recovery done after %d crashed session(s)", len(dead))
        return True

    def _markers(self) -> list[Path]:
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        return [self.dir / n for n in names if n != GATE and self.dir / n != self.marker_path]

    def _dead_markers(self) -> list[Path]:
        return [p for p in self._markers() if not _locked_by_other(p)]

    def others_alive(self) -> bool:
        """True when another lamina process has this root open."""
        return any(_locked_by_other(p) for p in self._markers())

    def _make_marker(self) -> None:
        path = self.dir / f"{os.getpid()}-{os.urandom(4).hex()}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._marker, self.marker_path = fd, path

    def close(self) -> None:
        if self.marker_path is not None:
            self.marker_path.unlink(missing_ok=True)
            self.marker_path = None
        for fd in (self._marker, self._gate):
            if fd is not None:
                os.close(fd)
        self._marker = self._gate = None


def _flock(fd: int, op: int, *, wait: bool, timeout: float = 300.0) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, op | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            if not wait:
                return False
            if time.monotonic() > deadline:
                from lamina.errors import LockTimeout
                raise LockTimeout("sessions/.gate") from exc
            time.sleep(0.01)


def _locked_by_other(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False
