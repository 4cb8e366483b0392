"""Whiteouts and opaque dirs: image-spec rules (§4.2), moby (§4.3), umoci (§4.6), ggcr (§4.7)."""

import io
import os
import stat

import pytest

from lamina.errors import InvalidLayer
from lamina.layer.changes import overlay_changes
from lamina.layer.tarwriter import write_changes
from lamina.layer.whiteout import (
    OCIWhiteouts,
    OverlayWhiteouts,
    classify,
    is_opaque_dir,
    is_whiteout_device,
)
from lamina.testing import probes
from lamina.testing.trees import (
    Dir,
    File,
    Opaque,
    Symlink,
    Whiteout,
    build_tree,
    layer_tar,
    listing,
)

needs_overlay_form = pytest.mark.skipif(
    (probes.mknod() or probes.trusted_xattr()) is not None,
    reason=str(probes.mknod() or probes.trusted_xattr()))


def tree(names: str) -> dict:
    """Spec from a moby-style listing: trailing / = directory, files empty."""
    return {n.rstrip("/"): Dir() if n.endswith("/") else File(b"") for n in names.split()}


def test_classify():
    assert classify(".wh..wh..opq", "x") == ("opaque", "")
    assert classify(".wh.foo", "x") == ("whiteout", "foo")
    assert classify(".wh..baz", "x") == ("whiteout", ".baz")
    assert classify(".wh..wh.plnk", "x") == ("meta", "")
    assert classify("foo", "x") == ("plain", "")


# ---------------------------------------------------------------- image-spec layer.md
def test_whiteout_removes_file_dir_and_symlink_not_its_target(tmp_path, apply_tar):
    r = build_tree(tmp_path / "r", {"f": File(b"x"), "d/sub/deep": File(b"y"), "target": File(b"t"),
                                    "link": Symlink("target")})
    apply_tar(layer_tar({"f": Whiteout(), "d": Whiteout(), "link": Whiteout()}), r)
    assert listing(r) == ["target"]


@pytest.mark.parametrize("name", [".wh.", "some/path/.wh.", ".wh..", ".wh..."])
def test_bad_whiteout_names_are_errors(tmp_path, apply_tar, name):
    r = build_tree(tmp_path / "r", {"some/path/x": File(b"x")})
    with pytest.raises(InvalidLayer, match="invalid whiteout") as err:
        apply_tar(layer_tar([(name, File(b""))]), r)
    assert err.value.entry == name
    assert listing(r) == ["some/", "some/path/", "some/path/x"]


def test_same_layer_entries_survive_whiteouts_in_any_order(tmp_path, apply_tar):
    """umoci: .wh.fileB, fileA, fileB, .wh.fileA, .wh.fileC over lower fileC."""
    r = build_tree(tmp_path / "r", {"fileC": File(b"c")})
    apply_tar(layer_tar([("fileB", Whiteout()), ("fileA", File(b"a")), ("fileB", File(b"b")),
                         ("fileA", Whiteout()), ("fileC", Whiteout())]), r)
    assert listing(r) == ["fileA", "fileB"]


def test_opaque_listed_last_still_keeps_same_layer_entries(tmp_path, apply_tar):
    r = build_tree(tmp_path / "r", {"a/old": File(b"o"), "a/b/older": File(b"o")})
    apply_tar(layer_tar([("a/b/c/foo", File(b"new")), ("a", Opaque())]), r)
    assert listing(r) == ["a/", "a/b/", "a/b/c/", "a/b/c/foo"]


def test_spec_example(tmp_path, apply_tar):
    r = tmp_path / "r"
    apply_tar(layer_tar({"file1": File(b"1"), "a/file2": File(b"2"), "b": Dir(), "c/file3": File(b"3")}), r)
    apply_tar(layer_tar({"file1": Whiteout(), "a/file2": Whiteout(), "b": Whiteout(), "file4": File(b"4")}), r)
    assert listing(r) == ["a/", "c/", "c/file3", "file4"]


# ---------------------------------------------------------------- moby TestApplyLayerWhiteouts
MOBY_STEPS = [
    (".baz bar/ bar/bax bar/bay/ baz foo/ foo/.abc foo/.bcd/ foo/.bcd/a foo/cde/ foo/cde/def foo/cde/efg "
     "foo/fgh foobar",
     ".baz bar/ bar/bax bar/bay/ baz foo/ foo/.abc foo/.bcd/ foo/.bcd/a foo/cde/ foo/cde/def foo/cde/efg "
     "foo/fgh foobar"),
    (".bay .wh.baz foo/ foo/.bce foo/.wh..wh..opq foo/cde/ foo/cde/efg",
     ".bay .baz bar/ bar/bax bar/bay/ foo/ foo/.bce foo/cde/ foo/cde/efg foobar"),
    (".bay .wh..baz .wh.foobar foo/ foo/.abc foo/.wh.cde bar/",
     ".bay bar/ bar/bax bar/bay/ foo/ foo/.abc foo/.bce"),
    (".abc .wh..wh..opq foobar", ".abc foobar"),
]


def test_moby_apply_layer_whiteouts_sequence(tmp_path, apply_tar):
    r = tmp_path / "r"
    for layer, expected in MOBY_STEPS:
        apply_tar(layer_tar(tree(layer)), r)
        assert listing(r) == sorted(expected.split())


# ---------------------------------------------------------------- umoci
@pytest.mark.parametrize("as_dir", [False, True], ids=["file", "dir"])
@pytest.mark.parametrize("path", ["rootpath", ".hiddenroot", "some/path/file", "another/path/.hiddenfile"])
def test_umoci_whiteout_removes_completely_and_keeps_parent_times(tmp_path, apply_tar, path, as_dir):
    spec = {"some/path/sibling": File(b""), "another/path/sibling": File(b"")}
    if as_dir:
        spec.update({f"{path}/a": File(b"a"), f"{path}/.subdir/b": File(b"b")})
    else:
        spec[path] = File(b"x")
    r = build_tree(tmp_path / "r", spec)
    parent = (r / path).parent
    os.utime(parent, (1_000_000_000, 1_100_000_000))
    apply_tar(layer_tar({path: Whiteout()}), r)
    assert not os.path.lexists(r / path)
    st = parent.stat()
    assert (st.st_atime, st.st_mtime) == (1_000_000_000, 1_100_000_000)


def test_umoci_opaque_at_end_spares_upper_entries_and_their_lower_parents(tmp_path, apply_tar):
    r = build_tree(tmp_path / "r", {"some/dir/lower-file": File(b""), "some/other-lower": File(b""),
                                    "keep/me": File(b"")})
    apply_tar(layer_tar([("some/dir/somewhere", File(b"up")), ("some", Opaque())]), r)
    assert listing(r) == ["keep/", "keep/me", "some/", "some/dir/", "some/dir/somewhere"]


def test_umoci_opaque_without_upper_entries_leaves_empty_dir(tmp_path, apply_tar):
    r = build_tree(tmp_path / "r", {"some/dir/lower-file": File(b"")})
    apply_tar(layer_tar([("some", Opaque())]), r)
    assert listing(r) == ["some/"]


def test_umoci_whiteouts_of_dirs_spare_same_layer_content(tmp_path, apply_tar):
    r = build_tree(tmp_path / "r", {"file": File(b""), "dir1/lower": File(b""), "dir2/lower": File(b"")})
    apply_tar(layer_tar([("dir2", Whiteout()), ("dir1/upper", File(b"1")), ("dir1", Whiteout()),
                         ("dir2/upper", File(b"2"))]), r)
    assert listing(r) == ["dir1/", "dir1/upper", "dir2/", "dir2/upper", "file"]


# ---------------------------------------------------------------- ggcr
def test_ggcr_opaque_written_after_its_sibling(tmp_path, apply_tar):
    r = tmp_path / "r"
    apply_tar(layer_tar({"d/a.txt": File(b"a"), "d/b.txt": File(b"b")}), r)
    apply_tar(layer_tar([("d/c.txt", File(b"c")), ("d", Opaque())]), r)
    assert listing(r) == ["d/", "d/c.txt"]


def test_ggcr_in_whiteout_dir(tmp_path, apply_tar):
    r = build_tree(tmp_path / "r", {"baz/foo.txt": File(b""), "baz/bar/foo.txt": File(b""),
                                    "usr/bin": Dir(), "red/green": File(b""), "red/yellow.txt": File(b""),
                                    "red/blue/x": File(b"")})
    apply_tar(layer_tar({"baz": Whiteout(), "red/blue": Whiteout()}), r)
    assert listing(r) == ["red/", "red/green", "red/yellow.txt", "usr/", "usr/bin/"]


def test_aufs_metadata_entries_are_ignored(tmp_path, apply_tar):
    r = tmp_path / "r"
    apply_tar(layer_tar([(".wh..wh.plnk/123", File(b"x")), (".wh..wh.aufs", File(b"")), ("f", File(b""))]), r)
    assert listing(r) == ["f"]


# ---------------------------------------------------------------- overlay form (§4.3 and §4.6)

@needs_overlay_form
class TestOverlayForm:
    def apply(self, tmp_path, apply_tar, entries, **kw):
        up = tmp_path / "upper"
        apply_tar(layer_tar(entries), up, OverlayWhiteouts(**kw))
        return up

    def test_whiteout_is_a_0_0_char_device(self, tmp_path, apply_tar):
        up = self.apply(tmp_path, apply_tar, [("gone", Whiteout()), ("a/b/gone", Whiteout())])
        for p in ("gone", "a/b/gone"):
            assert is_whiteout_device((up / p).lstat())
        assert stat.S_IMODE((up / "a/b").stat().st_mode) == 0o755  # parents created

    def test_opaque_is_an_xattr(self, tmp_path, apply_tar):
        up = self.apply(tmp_path, apply_tar, [("x/y", Opaque()), ("x/y/kept", File(b"k"))])
        assert is_opaque_dir(up / "x/y") and not is_opaque_dir(up / "x")
        assert (up / "x/y/kept").read_bytes() == b"k"
        assert not (up / "x/y/.wh..wh..opq").exists()

    def test_userxattr_mode(self, tmp_path, apply_tar):
        up = self.apply(tmp_path, apply_tar, [("d", Opaque())], userxattr=True)
        assert os.getxattr(up / "d", "user.overlay.opaque") == b"y"
        assert is_opaque_dir(up / "d", userxattr=True)

    def test_opaque_over_a_file_makes_a_dir(self, tmp_path, apply_tar):
        up = self.apply(tmp_path, apply_tar, [("opaque-nondir", File(b"x")), ("opaque-nondir", Opaque())])
        assert (up / "opaque-nondir").is_dir() and is_opaque_dir(up / "opaque-nondir")

    def test_whiteout_then_opaque_marker(self, tmp_path, apply_tar):
        up = self.apply(tmp_path, apply_tar, [("X", Whiteout()), ("X", Opaque())])
        assert (up / "X").is_dir() and is_opaque_dir(up / "X")

    def test_dir_over_whiteout_becomes_opaque(self, tmp_path, apply_tar):
        up = self.apply(tmp_path, apply_tar, [("X", Whiteout()), ("X/foo/bar", File(b"1")),
                                              ("X/abc/def", File(b"2"))])
        assert is_opaque_dir(up / "X")
        assert listing(up / "X") == ["abc/", "abc/def", "foo/", "foo/bar"]

    def test_nested_opaque_markers_stay(self, tmp_path, apply_tar):
        up = self.apply(tmp_path, apply_tar, [("x", Opaque()), ("x/a/b", Opaque()), ("x/a/b/c/d", Opaque())])
        assert all(is_opaque_dir(up / p) for p in ("x", "x/a/b", "x/a/b/c/d"))

    def test_whiteouts_under_same_layer_opaque_dir_dropped(self, tmp_path, apply_tar):
        up = self.apply(tmp_path, apply_tar, [("d/early", Whiteout()), ("d", Opaque()), ("d/late", Whiteout()),
                                              ("d/sub/deep", Whiteout()), ("d/file", File(b"f"))])
        assert listing(up) == ["d/", "d/file", "d/sub/"]

    def test_same_layer_content_kept_when_its_dir_is_whited_out(self, tmp_path, apply_tar):
        """umoci deletes X/before here; we keep it and make X opaque (OCI: same layer is not hidden)."""
        up = self.apply(tmp_path, apply_tar, [("X/before", File(b"b")), ("X", Whiteout()),
                                              ("X/foo/bar", File(b"1")), ("X/abc/def", File(b"2"))])
        assert is_opaque_dir(up / "X")
        assert listing(up / "X") == ["abc/", "abc/def", "before", "foo/", "foo/bar"]

    def test_moby_overlay_tar_round_trip(self, tmp_path, apply_tar, tar_members):
        up = build_tree(tmp_path / "src", {"d1": Dir(mode=0o700, opaque=True), "d1/f1": File(b"", 0o600),
                                           "d2": Dir(mode=0o750, opaque=True), "d2/f1": File(b"", 0o660),
                                           "d3": Dir(mode=0o700), "d3/f1": Whiteout()})
        buf = io.BytesIO()
        write_changes(up, overlay_changes(up), buf, upper=up)
        ms = tar_members(buf.getvalue())
        assert [m.name for m in ms] == ["d1", "d1/.wh..wh..opq", "d1/f1", "d2", "d2/.wh..wh..opq", "d2/f1",
                                        "d3", "d3/.wh.f1"]
        assert not any(m.ischr() for m in ms)
        assert not any(k.startswith("SCHILY.xattr.") for m in ms for k in m.pax_headers)
        assert [m.mode for m in ms if m.name.endswith(".opq")] == [0o700, 0o750]  # the parent's mode
        back = tmp_path / "back"
        apply_tar(buf.getvalue(), back, OverlayWhiteouts())
        modes = {p: stat.S_IMODE((back / p).lstat().st_mode) for p in ("d1", "d2", "d3", "d1/f1", "d2/f1")}
        assert modes == {"d1": 0o700, "d2": 0o750, "d3": 0o700, "d1/f1": 0o600, "d2/f1": 0o660}
        assert is_opaque_dir(back / "d1") and is_opaque_dir(back / "d2") and not is_opaque_dir(back / "d3")
        assert is_whiteout_device((back / "d3/f1").lstat())

    def test_oci_and_overlay_agree_on_opaque_dir_creation(self, tmp_path, apply_tar):
        oci = tmp_path / "oci"
        apply_tar(layer_tar([("new", Opaque())]), oci, OCIWhiteouts())
        up = self.apply(tmp_path, apply_tar, [("new", Opaque())])
        assert listing(oci) == listing(up) == ["new/"]
