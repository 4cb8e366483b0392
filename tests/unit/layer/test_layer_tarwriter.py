"""write_tree / write_changes: determinism, containerd layer-generation cases (§4.4), round trips."""

import io
import os
import shutil
import socket
import stat
import subprocess
import tarfile

import pytest

from lamina.digest import Digest
from lamina.layer.changes import Change, ChangeKind, changes_between
from lamina.layer.ids import EMPTY_LAYER_DIFF_ID
from lamina.layer.tarwriter import write_changes, write_tree
from lamina.testing.trees import Dir, File, Hardlink, Symlink, build_tree, snapshot

T0 = 1_500_000_000


def tree_tar(root, **kw) -> bytes:
    buf = io.BytesIO()
    write_tree(root, buf, **kw)
    return buf.getvalue()


def entries(data, tar_members):
    out = []
    for m in tar_members(data):
        kind = "/" if m.isdir() else f" => {m.linkname}" if m.islnk() else ""
        mode = f" {m.mode:o}" if m.isdir() else ""
        out.append(f"{m.name}{kind}{mode}")
    return out


RICH = {"a": Dir(mode=0o750), "a/f": File(b"x" * 1000, 0o644, mtime=T0), "a/g": Hardlink("a/f"),
        "a.txt": File(b"t"), "b/link": Symlink("../a/f"), "c/x": File(b"", 0o4755, xattrs={"user.k": b"v"})}


def test_empty_tree_is_the_empty_layer(tmp_path):
    (tmp_path / "e").mkdir()
    data = tree_tar(tmp_path / "e")
    assert data == bytes(1024) and Digest.of_bytes(data) == EMPTY_LAYER_DIFF_ID


def test_order_headers_and_hardlinks(tmp_path, tar_members):
    r = build_tree(tmp_path / "r", RICH)
    ms = tar_members(tree_tar(r))
    assert [m.name for m in ms] == ["a", "a/f", "a/g", "a.txt", "b", "b/link", "c", "c/x"]
    g = ms[2]
    assert g.islnk() and g.linkname == "a/f" and g.size == 0
    assert all(m.uname == "" and m.gname == "" for m in ms)
    assert ms[7].pax_headers == {"SCHILY.xattr.user.k": "v"} and ms[7].mode == 0o4755
    assert not any(k in m.pax_headers for m in ms for k in ("atime", "ctime"))


def test_identical_trees_give_identical_bytes(tmp_path):
    a = build_tree(tmp_path / "a", RICH)
    b = build_tree(tmp_path / "b", RICH)
    for root in (a, b):   # every entry: trees built a second apart must not differ by their clocks
        for dirpath, dirs, files in os.walk(root, topdown=False):
            for name in dirs + files:
                os.utime(os.path.join(dirpath, name), (T0, T0), follow_symlinks=False)
    assert tree_tar(a) == tree_tar(b)


def test_epoch_clamps_only_newer_mtimes(tmp_path, tar_members):
    epoch = 1642941296  # SOURCE_DATE_EPOCH=2022-01-23T12:34:56Z
    r = build_tree(tmp_path / "r", {"old": File(b"o", mtime=epoch - 100), "new": File(b"n", mtime=epoch + 100)})
    ms = {m.name: m.mtime for m in tar_members(tree_tar(r, epoch=epoch))}
    assert ms == {"old": epoch - 100, "new": epoch}


def test_epoch_whiteouts_are_at_1970(tmp_path, tar_members):
    epoch = 1642941296
    old = build_tree(tmp_path / "old", {"d/gone": File(b"g", mtime=T0), "d/new-old": File(b"")})
    new = build_tree(tmp_path / "new", {"d/new-old": File(b"")})
    build_tree(new, {"d/fresh": File(b"f", mtime=epoch + 5)})
    buf = io.BytesIO()
    write_changes(new, changes_between(old, new), buf, epoch=epoch)
    ms = {m.name: m.mtime for m in tar_members(buf.getvalue())}
    assert ms["d/.wh.gone"] == 0 and ms["d/fresh"] == epoch and ms["d"] <= epoch


def test_sockets_skipped(tmp_path, diff, tar_members):
    """containerd IgnoreSockets."""
    old = build_tree(tmp_path / "old", {})
    new = build_tree(tmp_path / "new", {"f2": File(b"2"), "f3": File(b"3")})
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(new / "s0"))
        assert [m.name for m in tar_members(diff(old, new))] == ["f2", "f3"]
        assert [m.name for m in tar_members(tree_tar(new))] == ["f2", "f3"]
    finally:
        s.close()


def test_gnu_tar_reads_our_output(tmp_path):
    r = build_tree(tmp_path / "r", RICH)
    (tmp_path / "l.tar").write_bytes(tree_tar(r))
    (tmp_path / "x").mkdir()
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "-xf", str(tmp_path / "l.tar"), "-C",
                    str(tmp_path / "x")], check=True)
    assert snapshot(tmp_path / "x") == snapshot(r)


def test_long_and_binary_names(tmp_path, apply_tar):
    name = "/".join(["d" * 90] * 3) + "/f\udcff-é"
    r = build_tree(tmp_path / "r", {name: File(b"x")})
    apply_tar(tree_tar(r), tmp_path / "back")
    assert snapshot(tmp_path / "back") == snapshot(r)


# ---------------------------------------------------------------- round trips
def test_write_apply_changes_round_trip_is_empty(tmp_path, apply_tar):
    r = build_tree(tmp_path / "r", {**RICH, "fifo": Dir(mode=0o1777), "deep/er/est": File(b"z", mtime=T0)})
    apply_tar(tree_tar(r), tmp_path / "back")
    assert changes_between(r, tmp_path / "back") == []
    assert snapshot(tmp_path / "back") == snapshot(r)
    assert tree_tar(tmp_path / "back") == tree_tar(r)


RELATIVE_LINKS = {"home/derek/other": "../other", "home/derek/etc": "../../etc", "home/derek/updown":
                  "up/../../other", "home/derek/breakout": "../../../breakout", "breakout": "../../breakout",
                  "breakout2": "etc/../../upandout", "home/breakout": "derek/../../../downandout",
                  "localetc": "/etc"}


def test_containerd_relative_symlinks_round_trip_verbatim(tmp_path, diff, apply_tar):
    new = build_tree(tmp_path / "new", {"home/derek": Dir(), **{k: Symlink(v) for k, v in RELATIVE_LINKS.items()}})
    apply_tar(diff(None, new), tmp_path / "copy")
    assert {k: os.readlink(tmp_path / "copy" / k) for k in RELATIVE_LINKS} == RELATIVE_LINKS


def test_containerd_symlink_replacements_round_trip(tmp_path, diff, apply_tar):
    base = {"bin/superbinary": File(b"s"), "sbin/superbinary": File(b"S"), "bin/actualbinary": File(b"a"),
            "bin/other1": Symlink("../bin/superbinary"), "bin/myapp": Symlink("actualbinary")}
    old = build_tree(tmp_path / "old", base)
    new = build_tree(tmp_path / "new", {k: v for k, v in base.items() if k not in ("bin/other1", "bin/myapp")})
    build_tree(new, {"bin/other1": Symlink("/bin/superbinary"), "bin/other2": Symlink("/sbin/superbinary"),
                     "bin/other3": Symlink("other2"), "bin/myapp": Dir(), "bin/myapp/inside": File(b"i")})
    copy = tmp_path / "copy"
    shutil.copytree(old, copy, symlinks=True)
    apply_tar(diff(old, new), copy)
    assert snapshot(copy) == snapshot(new)


# ---------------------------------------------------------------- containerd layer generation
def _pair(tmp_path, before, after, mutate=None):
    old = build_tree(tmp_path / "old", before)
    new = tmp_path / "new"
    shutil.copytree(old, new, symlinks=True)
    build_tree(new, after)
    if mutate:
        mutate(new)
    return old, new


def test_empty_diff(tmp_path, diff):
    old, new = _pair(tmp_path, {"etc": Dir()}, {})
    assert diff(old, new) == bytes(1024)


def test_parent_inclusion(tmp_path, diff, tar_members):
    old, new = _pair(tmp_path, {"d1": Dir(mode=0o755), "d2": Dir(mode=0o770)},
                     {"d1/d": Dir(mode=0o700), "d2/f": File(b"ok", 0o644)})
    assert entries(diff(old, new), tar_members) == ["d1/ 755", "d1/d/ 700", "d2/ 770", "d2/f"]


def test_update_directory_permission(tmp_path, diff, tar_members):
    old, new = _pair(tmp_path, {"d1": Dir(mode=0o755), "d2": Dir(mode=0o770)},
                     {"d1/d": Dir(mode=0o700), "d2/f": File(b"ok")}, lambda n: os.chmod(n / "d1", 0o777))
    assert entries(diff(old, new), tar_members) == ["d1/ 777", "d1/d/ 700", "d2/ 770", "d2/f"]


LINK_ME = {"d1/f1": File(b"link me"), "d2/f1": File(b"link me"), "d3": Dir(), "d4/f1": File(b"link me"),
           "d5/f1": File(b"link me"), "d6/l1": Hardlink("d1/f1"), "d6/l2": Hardlink("d5/f1")}


def test_hardlink_parent_inclusion(tmp_path, diff, tar_members):
    def mutate(n):
        os.link(n / "d1/f1", n / "d2/l1")
        os.link(n / "d4/f1", n / "d3/l1")
        os.unlink(n / "d6/l1")
        os.unlink(n / "d6/l2")
    old, new = _pair(tmp_path, LINK_ME, {}, mutate)
    assert entries(diff(old, new), tar_members) == [
        "d2/ 755", "d2/l1", "d1/ 755", "d1/f1 => d2/l1", "d3/ 755", "d3/l1", "d4/ 755", "d4/f1 => d3/l1",
        "d6/ 755", "d6/.wh.l1", "d6/.wh.l2"]


def test_hardlink_updated_parent(tmp_path, diff, tar_members):
    base = {"d1/f1": File(b"link me"), "d2": Dir(), "d3/f1": File(b"link me"), "d4": Dir()}

    def mutate(n):
        os.chmod(n / "d1", 0o777)
        os.chmod(n / "d4", 0o777)
        os.link(n / "d1/f1", n / "d2/l1")
        os.link(n / "d3/f1", n / "d4/l1")
    old, new = _pair(tmp_path, base, {}, mutate)
    assert entries(diff(old, new), tar_members) == [
        "d1/ 777", "d2/ 755", "d2/l1", "d1/f1 => d2/l1", "d4/ 777", "d4/l1", "d3/ 755", "d3/f1 => d4/l1"]


def test_whiteout_includes_parents(tmp_path, diff, tar_members):
    base = {"d1/f1": File(b""), "d2/f1": File(b""), "d2/f2": File(b""), "d3/f1": File(b""), "d4/f1": File(b""),
            "d5/f1": File(b"")}

    def mutate(n):
        for p in ("d1/f1", "d2/f1", "d3/f1", "d4/f1"):
            os.unlink(n / p)
        os.chmod(n / "d2/f2", 0o777)
        (n / "d3/f2").write_bytes(b"")
        (n / "d4/f0").write_bytes(b"")
        shutil.rmtree(n / "d5")
    old, new = _pair(tmp_path, base, {}, mutate)
    assert entries(diff(old, new), tar_members) == [
        "d1/ 755", "d1/.wh.f1", "d2/ 755", "d2/.wh.f1", "d2/f2", "d3/ 755", "d3/.wh.f1", "d3/f2",
        "d4/ 755", "d4/f0", "d4/.wh.f1", ".wh.d5"]
    assert next(m for m in tar_members(diff(old, new)) if m.name == "d2/f2").mode == 0o777


def test_whiteout_parent_removal(tmp_path, diff, tar_members):
    old, new = _pair(tmp_path, {"d1": Dir(), "d2/f1": File(b"")}, {},
                     lambda n: (shutil.rmtree(n / "d1"), shutil.rmtree(n / "d2"), os.mkdir(n / "d3")))
    assert entries(diff(old, new), tar_members) == [".wh.d1", ".wh.d2", "d3/ 755"]


def test_write_changes_accepts_any_order_and_skips_root(tmp_path, tar_members):
    r = build_tree(tmp_path / "r", {"a/b": File(b"")})
    buf = io.BytesIO()
    write_changes(r, [Change(ChangeKind.ADD, "/a/b"), Change(ChangeKind.MODIFY, "/"),
                      Change(ChangeKind.ADD, "/a")], buf)
    assert [m.name for m in tar_members(buf.getvalue())] == ["a", "a/b"]


@pytest.mark.skipif(not hasattr(tarfile, "data_filter"), reason="this Python's tarfile has no extraction filters")
def test_tarfile_data_filter_accepts_our_layers(tmp_path):
    """Python's own safe extraction agrees our output is ordinary."""
    r = build_tree(tmp_path / "r", {"a/f": File(b"x"), "a/l": Symlink("f"), "a/h": Hardlink("a/f")})
    with tarfile.open(fileobj=io.BytesIO(tree_tar(r))) as tf:
        tf.extractall(tmp_path / "x", filter="data")
    assert stat.S_ISLNK((tmp_path / "x/a/l").lstat().st_mode)
