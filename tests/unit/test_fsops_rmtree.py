"""fsops.rmtree: removes trees bottom-up by directory fd, never through a symlink, shutil as the fallback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lamina._internal import fsops


def _tree(root: Path, outside: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f").write_text("x")
    (root / "a" / "g").write_text("y")
    (root / "link-to-dir").symlink_to(outside)
    (root / "a" / "dangling").symlink_to(root / "nowhere")
    os.mkfifo(root / "fifo")
    (root / "ro").mkdir()
    (root / "ro" / "h").write_text("z")
    (root / "ro").chmod(0o555)


def test_removes_everything_and_nothing_a_symlink_points_at(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("kept")
    root = tmp_path / "tree"
    _tree(root, outside)
    fsops.rmtree(root)
    assert not root.exists() and (outside / "keep").read_text() == "kept"
    fsops.rmtree(root)   # gone already: nothing to do


def test_a_file_or_a_symlink_is_removed_itself(tmp_path: Path) -> None:
    target = tmp_path / "dir"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    fsops.rmtree(link)
    assert not link.exists() and target.is_dir()
    plain = tmp_path / "f"
    plain.write_text("x")
    fsops.rmtree(plain)
    assert not plain.exists()


def test_what_the_fast_path_cannot_remove_goes_to_shutil(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "tree"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_text("x")
    calls = []
    monkeypatch.setattr(fsops, "_remove_tree", lambda p: (_ for _ in ()).throw(PermissionError(13, "denied")))
    real = fsops._rmtree_stubborn
    monkeypatch.setattr(fsops, "_rmtree_stubborn", lambda p: (calls.append(p), real(p)))
    fsops.rmtree(root)
    assert calls == [root] and not root.exists()
