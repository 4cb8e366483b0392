"""Tests for lamina._internal.staging: locked staging dirs and stale-dir recovery."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from lamina._internal.staging import NEW_PREFIX, STALE_NEW_SECONDS, StagingDir, recover_stale


def test_staging_dir_is_created_locked_and_removed(tmp_path):
    base = tmp_path / "staging"
    with StagingDir(base) as sd:
        assert sd.path.parent == base
        assert (sd.path / "lock").exists()
        (sd.path / "data").write_bytes(b"x")
        assert recover_stale(base) == []  # held: never removed
        assert sd.path.exists()
        path = sd.path
    assert not path.exists()
    assert list(base.iterdir()) == []


def test_staging_dir_removed_on_exception(tmp_path):
    with pytest.raises(ValueError), StagingDir(tmp_path) as sd:
        path = sd.path
        raise ValueError("boom")
    assert not path.exists()


def test_keep_leaves_the_dir_but_releases_the_lock(tmp_path):
    with StagingDir(tmp_path / "s") as sd:
        sd.keep()
        path = sd.path
    assert path.exists()
    assert recover_stale(tmp_path / "s") == [path]
    assert not path.exists()


def test_path_before_open_is_an_error(tmp_path):
    with pytest.raises(RuntimeError):
        _ = StagingDir(tmp_path).path


def _die_holding_staging(base: str, ready: str) -> None:
    sd = StagingDir(base)
    sd.open()
    (sd.path / "partial").write_bytes(b"half a blob")
    Path(ready).write_text(str(sd.path))
    os._exit(0)  # dies without cleanup: the flock goes with the process


def test_recover_stale_removes_dirs_of_dead_owners_only(tmp_path):
    base = tmp_path / "staging"
    ready = tmp_path / "ready"
    proc = multiprocessing.get_context("fork").Process(target=_die_holding_staging,
                                                       args=(str(base), str(ready)))
    proc.start()
    proc.join(30)
    dead = Path(ready.read_text())
    assert dead.exists()
    with StagingDir(base) as live:
        removed = recover_stale(base)
        assert removed == [dead]
        assert not dead.exists()
        assert live.path.exists()


def test_recover_stale_keeps_young_newborns_and_removes_old_ones(tmp_path):
    young = tmp_path / f"{NEW_PREFIX}young"
    old = tmp_path / f"{NEW_PREFIX}old"
    young.mkdir()
    old.mkdir()
    past = time.time() - STALE_NEW_SECONDS - 10
    os.utime(old, (past, past))
    assert recover_stale(tmp_path) == [old]
    assert young.exists()


def test_recover_stale_on_missing_base_is_a_no_op(tmp_path):
    assert recover_stale(tmp_path / "nope") == []


def test_recover_stale_ignores_plain_files(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    assert recover_stale(tmp_path) == []
    assert (tmp_path / "file").exists()
