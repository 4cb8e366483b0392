"""Follow an append-only file that is rotated by renaming (``tail -F``): container logs and events.

Must not parse what it reads: it yields whole lines (bytes, without the newline).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path


def position(path: Path) -> tuple[int | None, int]:
    """(inode, size) of *path*; (None, 0) when it is not there."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None, 0
    return st.st_ino, st.st_size


def read_from(path: Path, offset: int) -> bytes:
    """The bytes of *path* from *offset* on; b"" when it is not there."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()
    except FileNotFoundError:
        return b""


def follow_lines(path: Path, previous: Path, start: tuple[int | None, int], running: Callable[[], bool],
                 poll: float = 0.05) -> Iterator[bytes]:
    """Lines appended to *path* after *start* (its inode and size then), until *running* is false
    (checked before each read, so what was written before the end is read). A rename of *path* to
    *previous* is followed: the rest of the old file first, then the new one from its start."""
    inode, offset = start
    partial = b""
    while True:
        alive = running()
        now, size = position(path)
        data = b""
        if inode is not None and now != inode:
            data = read_from(previous, offset) if position(previous)[0] == inode else b""
            offset = 0
        elif size < offset:   # started again in place, the inode number reused
            offset = 0
        inode = now
        new = read_from(path, offset)
        offset += len(new)
        *lines, partial = (partial + data + new).split(b"\n")
        yield from lines
        if not alive:
            return
        time.sleep(poll)
