"""apply_layer basics: member kinds, metadata, replacement rules (image-spec layer.md), implied dirs."""

import io
import os
import stat
import tarfile

import pytest

from lamina.digest import Digest, VerifyingReader
from lamina.errors import DigestMismatch, InvalidLayer
from lamina.layer.apply import apply_layer
from lamina.layer.whiteout import LiteralWhiteouts, OCIWhiteouts
from lamina.testing import probes
from lamina.testing.trees import Device, Dir, Fifo, File, Hardlink, Symlink, build_tree, layer_tar, listing

needs_root = pytest.mark.skipif(probes.root() is not None, reason=str(probes.root()))
needs_mknod = pytest.mark.skipif(probes.mknod() is not None, reason=str(probes.mknod()))
needs_trusted = pytest.mark.skipif(probes.trusted_xattr() is not None, reason=str(probes.trusted_xattr()))


def test_every_member_kind(tmp_path, apply_tar):
    data = layer_tar({
        "d": Dir(mode=0o750, mtime=1_000_000_000), "d/f": File(b"hello", 0o640, mtime=1_100_000_000),
        "d/link": Symlink("f", mtime=1_200_000_000), "d/hard": Hardlink("d/f"), "pipe": Fifo(mode=0o600),
    })
    res = apply_tar(data, tmp_path / "r")
    r = tmp_path / "r"
    assert res.size == 5 and res.entries == 5
    assert (r / "d/f").read_bytes() == b"hello"
    assert stat.S_IMODE((r / "d").stat().st_mode) == 0o750
    assert stat.S_IMODE((r / "d/f").stat().st_mode) == 0o640
    assert os.readlink(r / "d/link") == "f"
    assert (r / "d/hard").stat().st_ino == (r / "d/f").stat().st_ino
    assert stat.S_ISFIFO((r / "pipe").lstat().st_mode)
    assert (r / "d").stat().st_mtime == 1_000_000_000  # dir mtime set after its content
    assert (r / "d/f").stat().st_mtime == 1_100_000_000
    assert (r / "d/link").lstat().st_mtime == 1_200_000_000


def test_xattrs_from_pax_records(tmp_path, apply_tar):
    apply_tar(layer_tar({"f": File(b"x", xattrs={"user.mime": b"text/plain", "user.bin": b"\xff\x00\x01"})}),
              tmp_path / "r")
    assert os.getxattr(tmp_path / "r/f", "user.mime") == b"text/plain"
    assert os.getxattr(tmp_path / "r/f", "user.bin") == b"\xff\x00\x01"


@needs_trusted
def test_layer_cannot_forge_overlay_xattrs(tmp_path, apply_tar):
    apply_tar(layer_tar({"d": Dir(xattrs={"trusted.overlay.opaque": b"y", "trusted.other": b"1"})}),
              tmp_path / "r")
    assert os.listxattr(tmp_path / "r/d") == ["trusted.other"]


def test_pax_long_names_and_unicode(tmp_path, apply_tar):
    long = "/".join(["a" * 60] * 5) + "/" + "é" * 80
    apply_tar(layer_tar({long: File(b"deep")}), tmp_path / "r")
    assert (tmp_path / "r" / long).read_bytes() == b"deep"


@needs_root
def test_owner_and_setuid_as_root(tmp_path, apply_tar):
    apply_tar(layer_tar({"bin": Dir(uid=3, gid=4), "bin/su": File(b"x", 0o4755, uid=0, gid=5),
                         "bin/l": Symlink("su", uid=7, gid=8)}), tmp_path / "r")
    r = tmp_path / "r"
    assert ((r / "bin").stat().st_uid, (r / "bin").stat().st_gid) == (3, 4)
    st = (r / "bin/su").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 5, 0o4755)
    assert ((r / "bin/l").lstat().st_uid, (r / "bin/l").lstat().st_gid) == (7, 8)


def test_same_owner_false_keeps_our_ids(tmp_path):
    (tmp_path / "r").mkdir()
    apply_layer(io.BytesIO(layer_tar({"f": File(b"x", uid=1234, gid=1234)})), tmp_path / "r",
                whiteouts=OCIWhiteouts(), same_owner=False)
    assert (tmp_path / "r/f").stat().st_uid == os.geteuid()


@needs_mknod
def test_devices_as_root(tmp_path, apply_tar):
    apply_tar(layer_tar({"dev/null": Device(major=1, minor=3, mode=0o666),
                         "dev/loop0": Device(major=7, minor=0, block=True)}), tmp_path / "r")
    st = (tmp_path / "r/dev/null").lstat()
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    assert stat.S_IMODE(st.st_mode) == 0o666
    assert stat.S_ISBLK((tmp_path / "r/dev/loop0").lstat().st_mode)


def test_devices_are_skipped_without_root(tmp_path, apply_tar, monkeypatch, caplog):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    res = apply_tar(layer_tar({"dev/null": Device(major=1, minor=3), "f": File(b"x")}), tmp_path / "r")
    assert not (tmp_path / "r/dev/null").exists() and (tmp_path / "r/f").exists()
    assert res.entries == 2 and "needs root" in caplog.text


# ---------------------------------------------------------------- image-spec layer.md replacement rules
def test_dir_over_dir_merges_and_replaces_attributes(tmp_path, apply_tar):
    r = build_tree(tmp_path / "r", {"d": Dir(mode=0o700), "d/keep": File(b"k")})
    apply_tar(layer_tar({"d": Dir(mode=0o751), "d/new": File(b"n")}), r)
    assert sorted(os.listdir(r / "d")) == ["keep", "new"]
    assert stat.S_IMODE((r / "d").stat().st_mode) == 0o751


KINDS = {"file": File(b"new content"), "dir": Dir(mode=0o711), "symlink": Symlink("elsewhere"),
         "fifo": Fifo()}
OLD = {"file": File(b"old"), "dir": Dir(), "symlink": Symlink("target"), "fifo": Fifo()}


@pytest.mark.parametrize("new", KINDS)
@pytest.mark.parametrize("old", OLD)
def test_any_other_combination_replaces(tmp_path, apply_tar, old, new):
    spec = {"target": File(b"target"), "p": OLD[old]}
    if old == "dir":
        spec["p/child"] = File(b"c")
    r = build_tree(tmp_path / "r", spec)
    apply_tar(layer_tar({"p": KINDS[new]}), r)
    st = (r / "p").lstat()
    if new == "file":
        assert (r / "p").read_bytes() == b"new content"
    elif new == "dir":
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o711
        assert os.listdir(r / "p") == (["child"] if old == "dir" else [])
    elif new == "symlink":
        assert os.readlink(r / "p") == "elsewhere"
    else:
        assert stat.S_ISFIFO(st.st_mode)
    assert (r / "target").read_bytes() == b"target"  # replacing a symlink never touches its target


def test_regular_file_replacing_a_hardlinked_name_gets_a_new_inode(tmp_path, apply_tar):
    r = build_tree(tmp_path / "r", {"a": File(b"shared"), "b": Hardlink("a")})
    apply_tar(layer_tar({"b": File(b"mine")}), r)
    assert (r / "a").read_bytes() == b"shared" and (r / "b").read_bytes() == b"mine"


# ---------------------------------------------------------------- moby: implied dirs and modes
def test_implied_parent_is_0755(tmp_path, apply_tar):
    old = os.umask(0o077)
    try:
        apply_tar(layer_tar([("foo/bar", File(b"x")), ("deeply/nested/and/implied", File(b""))]), tmp_path / "r")
    finally:
        os.umask(old)
    for d in ("foo", "deeply", "deeply/nested", "deeply/nested/and"):
        assert stat.S_IMODE((tmp_path / "r" / d).stat().st_mode) == 0o755, d


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o400, 0o777])
def test_explicit_dir_mode_kept_whatever_the_umask(tmp_path, apply_tar, mode):
    old = os.umask(0o022)
    try:
        apply_tar(layer_tar({"d": Dir(mode=mode)}), tmp_path / "r")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r/d").stat().st_mode) == mode


def test_dir_typeflag_without_trailing_slash(tmp_path, apply_tar):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo("noslash")
        info.type = tarfile.DIRTYPE
        tf.addfile(info)
    raw = bytearray(buf.getvalue())
    assert raw[:8] == b"noslash/"
    raw[7] = 0  # drop the "/" tarfile adds, then fix the header checksum
    raw[148:156] = b" " * 8
    raw[148:156] = b"%06o\0 " % sum(raw[:512])
    apply_tar(bytes(raw), tmp_path / "r")
    assert (tmp_path / "r/noslash").is_dir()


def test_root_entry_sets_root_metadata(tmp_path, apply_tar):
    apply_tar(layer_tar({"./": Dir(mode=0o700), "./f": File(b"x")}), tmp_path / "r")
    assert stat.S_IMODE((tmp_path / "r").stat().st_mode) == 0o700
    assert listing(tmp_path / "r") == ["f"]


def test_non_dir_root_entry_is_refused(tmp_path, apply_tar):
    with pytest.raises(InvalidLayer) as err:
        apply_tar(layer_tar({".": File(b"x")}), tmp_path / "r")
    assert err.value.entry == "."


def test_hardlink_to_missing_target_is_refused(tmp_path, apply_tar):
    with pytest.raises(InvalidLayer, match="not found") as err:
        apply_tar(layer_tar({"l": Hardlink("nowhere")}), tmp_path / "r")
    assert err.value.entry == "l"


def test_hardlink_to_directory_is_refused(tmp_path, apply_tar):
    with pytest.raises(InvalidLayer, match="directory"):
        apply_tar(layer_tar({"d": Dir(), "l": Hardlink("d")}), tmp_path / "r")


def test_symlink_loop_in_a_parent_is_refused(tmp_path, apply_tar):
    with pytest.raises(InvalidLayer, match="too many levels"):
        apply_tar(layer_tar([("a", Symlink("b")), ("b", Symlink("a")), ("a/f", File(b"x"))]), tmp_path / "r")


def test_truncated_tar_is_invalid(tmp_path, apply_tar):
    data = layer_tar({"f": File(b"x" * 5000)})
    with pytest.raises(InvalidLayer):
        apply_tar(data[:1536], tmp_path / "r")


def test_garbage_is_invalid(tmp_path, apply_tar):
    with pytest.raises(InvalidLayer):
        apply_tar(b"not a tar at all" * 64, tmp_path / "r")


def test_stream_is_drained_so_a_verifier_sees_trailing_bytes(tmp_path):
    """ggcr: a layer not matching its diff_id fails even though tar stops at the end marker."""
    good = layer_tar({"f": File(b"x")})
    (tmp_path / "r").mkdir()
    reader = VerifyingReader(io.BytesIO(good + b"trailing garbage"), Digest.of_bytes(good), None)
    with pytest.raises(DigestMismatch):
        apply_layer(reader, tmp_path / "r", whiteouts=OCIWhiteouts())
    ok = VerifyingReader(io.BytesIO(good), Digest.of_bytes(good), len(good))
    apply_layer(ok, tmp_path / "r", whiteouts=OCIWhiteouts())


def test_literal_format_keeps_whiteout_files(tmp_path, apply_tar):
    r = build_tree(tmp_path / "r", {"x": File(b"lower")})
    apply_tar(layer_tar([(".wh.x", File(b"")), ("d/.wh..wh..opq", File(b""))]), r, LiteralWhiteouts())
    assert listing(r) == [".wh.x", "d/", "d/.wh..wh..opq", "x"]


def test_hardlink_into_the_dir_it_replaces_is_invalid(tmp_path, apply_tar):
    with pytest.raises(InvalidLayer) as err:
        apply_tar(layer_tar([("a/f", File(b"x")), ("a", Hardlink("a/f"))]), tmp_path / "r")
    assert err.value.entry == "a"
