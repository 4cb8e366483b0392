import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.errors import InvalidLayer
from lamina.layer.pathsafety import RootWalker, clamp_absolute, normalize, sort_key
from lamina.testing.trees import Dir, File, Symlink, build_tree


@pytest.mark.parametrize("name,clean", [("a/b", "a/b"), ("/a//b/", "a/b"), ("./a/./b", "a/b"), ("", ""),
                                        (".", ""), ("/", ""), ("dne/../.wh.etc", ".wh.etc"),
                                        ("a/b/../../c", "c"), ("..\\x", "..\\x")])
def test_normalize(name, clean):
    assert normalize(name) == clean


@pytest.mark.parametrize("name", ["..", "../x", "/../x", "a/../../x", "a\0b"])
def test_normalize_refuses(name):
    with pytest.raises(InvalidLayer) as err:
        normalize(name)
    assert err.value.entry == name


@given(st.lists(st.sampled_from(["a", "b", "..", ".", "", "c.d"]), max_size=8))
@settings(max_examples=200)
def test_normalize_never_escapes(parts):
    name = "/".join(parts)
    try:
        clean = normalize(name)
    except InvalidLayer:
        return
    assert ".." not in clean.split("/") and not clean.startswith("/")
    assert os.path.normpath(os.path.join("/root", clean)).startswith("/root")


def test_clamp_absolute():
    assert clamp_absolute("/../../etc/./x/..") == ["etc"]
    assert clamp_absolute("/") == []


def test_sort_key_puts_parents_first():
    paths = ["/a.txt", "/a/b", "/a", "/b", "/a/b/c"]
    assert sorted(paths, key=sort_key) == ["/a", "/a/b", "/a/b/c", "/a.txt", "/b"]


def test_walker_resolves_inside_and_caches(tmp_path):
    r = build_tree(tmp_path / "r", {"usr/lib": Dir(), "lib": Symlink("usr/lib"), "abs": Symlink("/usr"),
                                    "f": File(b"")})
    fd = os.open(r, os.O_RDONLY)
    w = RootWalker(fd)
    try:
        assert w.resolve(["lib"], create=False, entry="e").real == ("usr", "lib")
        assert w.resolve(["abs", "lib"], create=False, entry="e").real == ("usr", "lib")
        assert w.resolve(["missing"], create=False, entry="e") is None
        assert w.resolve(["f", "x"], create=False, entry="e") is None
        made = w.resolve(["f", "x"], create=True, entry="e")
        assert made.real == ("f", "x") and (r / "f/x").is_dir()
        assert w.resolve(["f", "x"], create=False, entry="e") is made
    finally:
        w.close()
        os.close(fd)
