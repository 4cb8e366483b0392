"""changes_between and overlay_changes (moby change detection, §4.3)."""

import os
import shutil

import pytest

from lamina.layer.changes import Change, ChangeKind, changes_between, lower_lookup, overlay_changes, same_mtime
from lamina.testing import probes
from lamina.testing.trees import Device, Dir, File, Opaque, Symlink, Whiteout, build_tree

A, C, D = ChangeKind.ADD, ChangeKind.MODIFY, ChangeKind.DELETE
T0 = 1_500_000_000
needs_overlay_form = pytest.mark.skipif(
    (probes.mknod() or probes.trusted_xattr()) is not None,
    reason=str(probes.mknod() or probes.trusted_xattr()))


def kinds(changes):
    return [(c.kind.value, c.path) for c in changes]


def test_change_values():
    assert [k.value for k in ChangeKind] == ["A", "C", "D"]
    assert str(Change(A, "/x")) == "A /x"


def test_same_mtime_tolerates_missing_nanoseconds():
    assert same_mtime(5_000_000_000, 5_123_000_000)
    assert not same_mtime(5_100_000_000, 5_200_000_000)
    assert not same_mtime(5_000_000_000, 6_000_000_000)


def test_from_nothing_everything_is_added(tmp_path):
    new = build_tree(tmp_path / "n", {"a/b": File(b""), "c": Symlink("a")})
    assert kinds(changes_between(None, new)) == [("A", "/a"), ("A", "/a/b"), ("A", "/c")]


def test_each_attribute_is_compared(tmp_path):
    spec = {"mode": File(b"", 0o644), "uid": File(b""), "size": File(b"1"), "mtime": File(b"", mtime=T0),
            "link": Symlink("a"), "xattr": File(b""), "same": File(b"", mtime=T0), "dir": Dir()}
    old = build_tree(tmp_path / "o", spec)
    new = tmp_path / "n"
    shutil.copytree(old, new, symlinks=True)
    for p in ("mode", "uid", "size", "xattr", "link", "same", "dir"):
        os.utime(new / p, (T0, T0), follow_symlinks=False)
        os.utime(old / p, (T0, T0), follow_symlinks=False)
    os.chmod(new / "mode", 0o600)
    os.chown(new / "uid", 1, 1) if os.geteuid() == 0 else os.chmod(new / "uid", 0o600)
    (new / "size").write_bytes(b"22")
    os.utime(new / "mtime", (T0 + 5, T0 + 5))
    os.unlink(new / "link")
    os.symlink("b", new / "link")
    os.utime(new / "link", (T0, T0), follow_symlinks=False)
    os.setxattr(new / "xattr", "user.k", b"v")
    os.utime(new / "size", (T0, T0))
    os.utime(new / "dir", (T0 + 99, T0 + 99))  # dir mtime alone is not a change
    assert kinds(changes_between(old, new)) == [("C", p) for p in
                                                 ("/link", "/mode", "/mtime", "/size", "/uid", "/xattr")]


@pytest.mark.skipif(probes.mknod() is not None, reason=str(probes.mknod()))
def test_device_numbers_compared(tmp_path):
    old = build_tree(tmp_path / "o", {"dev": Device(major=1, minor=3)})
    new = build_tree(tmp_path / "n", {"dev": Device(major=1, minor=5)})
    os.utime(old / "dev", (T0, T0))
    os.utime(new / "dev", (T0, T0))
    assert kinds(changes_between(old, new)) == [("C", "/dev")]


def test_removed_dir_is_one_delete_and_parent_is_modified(tmp_path):
    old = build_tree(tmp_path / "o", {"p/gone/a": File(b""), "p/gone/b": File(b""), "keep": File(b"")})
    new = tmp_path / "n"
    shutil.copytree(old, new)
    shutil.rmtree(new / "p/gone")
    assert kinds(changes_between(old, new)) == [("C", "/p"), ("D", "/p/gone")]


def test_type_change_file_to_dir(tmp_path):
    old = build_tree(tmp_path / "o", {"x": File(b"")})
    new = build_tree(tmp_path / "n", {"x/y": File(b"")})
    assert kinds(changes_between(old, new)) == [("C", "/x"), ("A", "/x/y")]


def test_dir_mtime_only_is_not_a_change(tmp_path):
    old = build_tree(tmp_path / "o", {"d/f": File(b"", mtime=T0)})
    new = tmp_path / "n"
    shutil.copytree(old, new)
    os.utime(new / "d", (T0 + 1000, T0 + 1000))
    assert changes_between(old, new) == []


# ---------------------------------------------------------------- moby Changes over an upper dir
def test_moby_changes_from_aufs_style_upper(tmp_path):
    lower = build_tree(tmp_path / "lower", {"dir1/file1-1": File(b"1"), "dir1/file1-2": File(b"2"),
                                            "dir1/subfolder": Dir()})
    upper = build_tree(tmp_path / "upper", {"dir1/.wh.file1-2": File(b""), "dir1/file1-1": File(b"changed"),
                                            "dir1/subfolder/newFile": File(b"new")})
    assert kinds(overlay_changes(upper, [lower])) == [
        ("C", "/dir1"), ("C", "/dir1/file1-1"), ("D", "/dir1/file1-2"), ("C", "/dir1/subfolder"),
        ("A", "/dir1/subfolder/newFile")]


def test_moby_replacing_a_file_in_a_deep_dir(tmp_path):
    base = build_tree(tmp_path / "base", {"dir1/dir2/dir3/file.txt": File(b"hello")})
    layer = tmp_path / "layer"
    shutil.copytree(base, layer)
    os.unlink(layer / "dir1/dir2/dir3/file.txt")
    (layer / "dir1/dir2/dir3/file1.txt").write_bytes(b"bye")
    assert kinds(overlay_changes(layer, [base])) == [("C", "/dir1/dir2/dir3"), ("A", "/dir1/dir2/dir3/file1.txt")]


def test_moby_changing_only_a_file_content(tmp_path):
    base = build_tree(tmp_path / "base", {"dir1/dir2/dir3/file.txt": File(b"hello")})
    layer = tmp_path / "layer"
    shutil.copytree(base, layer)
    (layer / "dir1/dir2/dir3/file.txt").write_bytes(b"bye")
    assert kinds(overlay_changes(layer, [base])) == [("C", "/dir1/dir2/dir3/file.txt")]
    assert kinds(changes_between(base, layer)) == [("C", "/dir1/dir2/dir3/file.txt")]


@needs_overlay_form
class TestOverlayUpper:
    def test_char_devices_and_opaque_dirs(self, tmp_path):
        lower = build_tree(tmp_path / "lower", {"etc/passwd": File(b"p"), "var/cache/x": File(b"")})
        upper = build_tree(tmp_path / "upper", {"etc/passwd": Whiteout(), "etc/never-existed": Whiteout(),
                                                "var/cache": Opaque(), "var/cache/y": File(b""), "new": File(b"")})
        assert kinds(overlay_changes(upper, [lower])) == [
            ("C", "/etc"), ("D", "/etc/passwd"), ("A", "/new"), ("C", "/var/cache"), ("A", "/var/cache/y")]

    def test_without_lowers_everything_is_added_and_every_whiteout_kept(self, tmp_path):
        upper = build_tree(tmp_path / "upper", {"d/gone": Whiteout(), "d/f": File(b"")})
        assert kinds(overlay_changes(upper)) == [("A", "/d"), ("A", "/d/f"), ("D", "/d/gone")]

    def test_lower_lookup_honours_lower_whiteouts_and_opacity(self, tmp_path):
        bottom = build_tree(tmp_path / "l0", {"a/x": File(b""), "b/y": File(b""), "c/z": File(b"")})
        top = build_tree(tmp_path / "l1", {"a/x": Whiteout(), "b": Opaque(), "c": File(b"")})
        assert lower_lookup([top, bottom], "a/x") is None
        assert lower_lookup([top, bottom], "b/y") is None
        assert lower_lookup([top, bottom], "b") is not None
        assert lower_lookup([top, bottom], "c/z") is None
        assert lower_lookup([bottom], "c/z") is not None
