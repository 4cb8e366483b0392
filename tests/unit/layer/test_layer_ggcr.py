"""The ggcr docker-archive test images (§4.1), applied layer by layer, and ggcr's round trip (§4.7)."""

import io
import json
import os
import stat
import tarfile

import pytest

from lamina.layer.apply import apply_layer
from lamina.layer.compression import open_decompressed
from lamina.layer.tarwriter import write_tree
from lamina.layer.whiteout import OCIWhiteouts
from lamina.testing.trees import Dir, File, Hardlink, Symlink, build_tree, listing, snapshot


def flatten(archive, dest):
    dest.mkdir()
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        assert len(manifest) == 1
        for name in manifest[0]["Layers"]:
            blob = outer.extractfile(name)
            with open_decompressed(io.BytesIO(blob.read())) as plain:
                apply_layer(plain, dest, whiteouts=OCIWhiteouts())
    return dest


@pytest.fixture
def ggcr(conformance):
    return conformance / "layer-semantics" / "ggcr-testdata"


def test_whiteout_image(ggcr, tmp_path):
    r = flatten(ggcr / "whiteout_image.tar", tmp_path / "r")
    assert listing(r) == ["bar.txt"]
    assert (r / "bar.txt").read_bytes() == b"bar\n"


def test_overwritten_file(ggcr, tmp_path):
    r = flatten(ggcr / "overwritten_file.tar", tmp_path / "r")
    assert listing(r) == ["bar.txt", "foo.txt"]
    assert os.readlink(r / "foo.txt") == "bar.txt"
    assert (r / "bar.txt").read_bytes() == b"bar\n"


def test_whiteout_dir(ggcr, tmp_path):
    r = flatten(ggcr / "whiteout_dir.tar", tmp_path / "r")
    assert listing(r) == ["a/", "a/baz", "b/", "b/bar"]


def test_round_trip_of_one_layer(tmp_path, apply_tar):
    spec = {"app": Dir(), "app/bin": Dir(), "app/lib": Dir(), "app/node_modules": Dir(),
            "app/node_modules/.bin": Dir(), "restricted": Dir(mode=0o700),
            "app/main.js": File(b"console.log(1)", 0o644), "app/bin/run": File(b"#!/bin/sh", 0o755),
            "restricted/secret": File(b"s", 0o600),
            "app/node_modules/.bin/acorn": Symlink("../acorn/bin/acorn"),
            "app/link-to-main": Symlink("/app/main.js"), "app/modules": Symlink("node_modules"),
            "app/main-hardlink.js": Hardlink("app/main.js")}
    src = build_tree(tmp_path / "src", spec)
    buf = io.BytesIO()
    write_tree(src, buf)
    back = tmp_path / "back"
    apply_tar(buf.getvalue(), back)
    assert snapshot(back) == snapshot(src)
    assert stat.S_IMODE((back / "restricted").stat().st_mode) == 0o700
    assert os.path.samefile(back / "app/main.js", back / "app/main-hardlink.js")
