"""Driver roots are marked as tops of directory hierarchies (chattr +T) where the file system has the flag."""

from __future__ import annotations

import array
import fcntl
import os
from pathlib import Path

import pytest

from lamina._internal.fsops import spread_subdirs
from lamina.driver.copy import CopyDriver

_GETFLAGS, _TOPDIR = 0x80086601, 0x00020000


def _flags(path: Path) -> int | None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        out = array.array("i", [0])
        fcntl.ioctl(fd, _GETFLAGS, out, True)
        return out[0]
    except OSError:
        return None
    finally:
        os.close(fd)


def test_spread_subdirs_sets_topdir_and_keeps_other_flags(tmp_path: Path) -> None:
    before = _flags(tmp_path)
    if before is None or not spread_subdirs(tmp_path):
        pytest.skip(f"{tmp_path}: no inode flags here")
    after = _flags(tmp_path)
    assert after == before | _TOPDIR
    assert spread_subdirs(tmp_path) and _flags(tmp_path) == after   # idempotent


def test_spread_subdirs_is_false_where_refused(tmp_path: Path) -> None:
    assert spread_subdirs(tmp_path / "missing") is False
    if Path("/dev/shm").is_dir():
        assert spread_subdirs("/dev/shm") in (True, False)   # tmpfs: no error either way


def test_driver_root_is_marked(tmp_path: Path) -> None:
    if _flags(tmp_path) is None or not spread_subdirs(tmp_path):
        pytest.skip(f"{tmp_path}: no inode flags here")
    driver = CopyDriver(tmp_path / "home")
    assert (_flags(driver.root) or 0) & _TOPDIR
