"""Flocked staging directories: private scratch space that survives only as long as its owner.

Must not know what is staged in it (blobs, layers, bundles): only directories and locks.

On-disk layout under a staging *base*::

    <base>/.new-<rand>/        being born: the owner has not locked it yet (ignored by recovery
                               unless older than STALE_NEW_SECONDS)
    <base>/<rand>/lock         the owner holds an exclusive flock on this file for the dir's life
    <base>/<rand>/...          staged content

A directory is created under a ``.new-`` name, its lock is taken, and only then is it
renamed to its final name, so every directory with a final name is locked from birth:
``recover_stale`` can take a lock only when the owner died or finished (umoci ``Clean``,
c/storage ``tempdir``). On exit the owner removes the tree *while still holding the lock*.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from types import TracebackType

from lamina._internal.fsops import rmtree
from lamina._internal.locking import FileLock, try_lock
from lamina._internal.logs import get_logger

log = get_logger(__name__)

LOCK_NAME = "lock"
NEW_PREFIX = ".new-"
STALE_NEW_SECONDS = 3600.0


class StagingDir:
    """``with StagingDir(base) as sd: sd.path / "file"`` — a locked, private dir removed on exit.

    ``keep()`` detaches the directory from removal (the caller renamed its content away or
    wants it kept); the lock is still released on exit.
    """

    def __init__(self, base: str | os.PathLike[str]) -> None:
        self.base = Path(base)
        self._path: Path | None = None
        self._lock: FileLock | None = None
        self._keep = False

    @property
    def path(self) -> Path:
        if self._path is None:
            raise RuntimeError("staging dir is not open")
        return self._path

    def open(self) -> Path:
        """Create and lock the directory; returns its path."""
        self.base.mkdir(parents=True, exist_ok=True)
        name = os.urandom(8).hex()
        newborn = self.base / f"{NEW_PREFIX}{name}"
        newborn.mkdir(mode=0o700)
        lock = FileLock(newborn / LOCK_NAME, exclusive=True, timeout=0)
        try:
            lock.acquire()
            final = self.base / name
            os.rename(newborn, final)
        except BaseException:
            lock.release()
            rmtree(newborn)
            raise
        self._path, self._lock = final, lock
        log.debug("staging dir created path=%s", final)
        return final

    def keep(self) -> None:
        self._keep = True

    def close(self) -> None:
        """Remove the directory (unless kept), then release the lock. Idempotent."""
        if self._path is not None and not self._keep:
            rmtree(self._path)
        if self._lock is not None:
            self._lock.release()
        self._path, self._lock = None, None

    def __enter__(self) -> StagingDir:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def recover_stale(base: str | os.PathLike[str]) -> list[Path]:
    """Remove staging dirs under *base* whose lock can be taken (their owner died); return them.

    Directories whose lock is held are never touched. Unborn ``.new-`` dirs are removed only
    when older than ``STALE_NEW_SECONDS``. A missing *base* is not an error.
    """
    removed: list[Path] = []
    try:
        entries = sorted(Path(base).iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        if _remove_if_stale(entry):
            removed.append(entry)
    return removed


def _remove_if_stale(entry: Path) -> bool:
    if entry.name.startswith(NEW_PREFIX):
        return _remove_old_newborn(entry)
    if not entry.is_dir() or entry.is_symlink():
        return False
    lock = try_lock(entry / LOCK_NAME)
    if lock is None:
        return False
    try:
        rmtree(entry)
    finally:
        lock.release()
    log.info("removed stale staging dir path=%s", entry)
    return True


def _remove_old_newborn(entry: Path) -> bool:
    with contextlib.suppress(FileNotFoundError):
        if time.time() - entry.lstat().st_mtime > STALE_NEW_SECONDS:
            rmtree(entry)
            return True
    return False
