"""Differential test: random layer stacks give the same merged tree through every driver.

Stacks are drawn by hypothesis (files, dirs, symlinks, hardlinks, whiteouts, opaque
dirs, modes and owners) and written as tars with ``lamina.testing.trees``. They are
applied through the copy driver, the overlay driver, and overlay drivers limited to
3 lowers a mount (so nesting and flattening run on stacks of a few layers, with
whiteouts and opaque dirs crossing those boundaries). Then every layer's diff is
applied to a fresh copy driver, which must rebuild the same tree (apply -> diff round trip).
"""

from __future__ import annotations

import dataclasses
import io
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina._internal import mount as mnt
from lamina.driver.copy import CopyDriver
from lamina.driver.overlay import OverlayDriver
from lamina.driver.probe import probe_overlay
from lamina.driver.protocol import Driver
from lamina.testing import probes
from lamina.testing.trees import Dir, File, Hardlink, Node, Symlink, Whiteout, layer_tar

pytestmark = pytest.mark.skipif(probes.overlay() is not None, reason=str(probes.overlay()))

PATHS = ["a", "c", "x", "y", "a/b", "a/x", "a/y", "a/b/x", "a/b/y", "c/x"]
KINDS = ["file", "file", "dir", "symlink", "hardlink", "hardlink", "whiteout", "whiteout", "opaque"]


def _parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("/"))


def _ancestors(path: str) -> list[str]:
    parts = _parts(path)
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _below(path: str, root: str) -> bool:
    return path.startswith(root + "/")


@st.composite
def layer(draw: st.DrawFn, lower: dict[str, str]) -> tuple[list[tuple[str, Node]], dict[str, str]]:
    """One layer over the *lower* tree (path -> "dir"|"file"|"link"); returns its spec and the new tree."""
    spec: dict[str, Node] = {}
    for _ in range(draw(st.integers(1, 6))):
        kind, path = draw(st.sampled_from(KINDS)), draw(st.sampled_from(PATHS))
        if kind == "whiteout" and lower:
            path = draw(st.sampled_from(sorted(lower)))
        files = [p for p, n in spec.items() if isinstance(n, File)]
        if kind == "hardlink" and files:   # link after its target in tar order
            target = draw(st.sampled_from(files))
            path = draw(st.sampled_from([p for p in PATHS if _parts(p) > _parts(target)] or [target]))
        if path in spec or any(a in spec and not isinstance(spec[a], Dir) for a in _ancestors(path)):
            continue
        if kind == "whiteout":
            if path not in lower or any(isinstance(spec.get(a), Dir) and spec[a].opaque  # type: ignore[union-attr]
                                        for a in _ancestors(path)):
                continue
            node: Node = Whiteout()
        elif kind == "hardlink":
            if not files:
                continue
            node = Hardlink(target)
        else:
            node = _node(draw, kind)
        for a in _ancestors(path):
            spec.setdefault(a, Dir(mode=draw(st.sampled_from([0o755, 0o750])), uid=draw(st.sampled_from([0, 7]))))
        spec[path] = node
    items = sorted(spec.items(), key=lambda kv: _parts(kv[0]))
    return items, _next_tree(lower, items)


def _node(draw: st.DrawFn, kind: str) -> Node:
    owner = {"uid": draw(st.sampled_from([0, 1000])), "gid": draw(st.sampled_from([0, 100]))}
    if kind == "file":
        return File(draw(st.sampled_from([b"", b"one", b"two\n" * 3])),
                    mode=draw(st.sampled_from([0o644, 0o600, 0o755, 0o4755])), **owner)
    if kind == "symlink":
        return Symlink(draw(st.sampled_from(["x", "../c", "/etc/passwd", "a/b"])), **owner)
    return Dir(mode=draw(st.sampled_from([0o755, 0o700, 0o1777])), opaque=kind == "opaque", **owner)


def _next_tree(lower: dict[str, str], items: list[tuple[str, Node]]) -> dict[str, str]:
    tree = dict(lower)
    for path, node in items:   # deletions hit only the lower tree, before this layer's additions
        if isinstance(node, Whiteout) or (isinstance(node, Dir) and node.opaque):
            keep_self = not isinstance(node, Whiteout)
            tree = {p: k for p, k in tree.items() if not _below(p, path) and (keep_self or p != path)}
    for path, node in items:
        if isinstance(node, Whiteout):
            continue
        kind = "dir" if isinstance(node, Dir) else "link" if isinstance(node, Symlink) else "file"
        if kind != "dir" or tree.get(path) != "dir":
            tree = {p: k for p, k in tree.items() if not _below(p, path)}
        tree[path] = kind
    return tree


@st.composite
def stacks(draw: st.DrawFn) -> list[list[tuple[str, Node]]]:
    tree: dict[str, str] = {}
    layers = []
    for index in range(draw(st.integers(2, 6))):
        spec, tree = draw(layer(tree))
        # Each layer's files are newer than the last's, as in any real build: a naive diff (moby's too)
        # cannot tell a file replaced by one of the same size, mode and mtime, which breaks a hard link.
        layers.append([(p, dataclasses.replace(n, mtime=1_600_000_000 + index) if isinstance(n, File) else n)
                       for p, n in spec])
    return layers


def tree_snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """path -> (type, mode, uid, gid, content | link target | rdev, hardlink group) below *root*."""
    out: dict[str, tuple[object, ...]] = {}
    inodes: dict[tuple[int, int], list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            st_ = path.lstat()
            detail: object = None
            if stat.S_ISLNK(st_.st_mode):
                detail = os.readlink(path)
            elif stat.S_ISREG(st_.st_mode):
                detail = path.read_bytes()
                inodes.setdefault((st_.st_dev, st_.st_ino), []).append(rel)
            out[rel] = (stat.S_IFMT(st_.st_mode), stat.S_IMODE(st_.st_mode), st_.st_uid, st_.st_gid, detail)
    for group in inodes.values():
        for rel in group:
            out[rel] = (*out[rel], tuple(sorted(group)) if len(group) > 1 else None)
    return dict(sorted(out.items()))


@pytest.fixture(scope="module")
def support() -> object:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        return probe_overlay(Path(tmp))


@contextmanager
def drivers(support: object) -> Iterator[dict[str, Driver]]:
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lamina-diff-", dir="/var/tmp")))
        made: dict[str, Driver] = {"copy": CopyDriver(home / "c")}
        for name, deep, cap in (("overlay", "auto", None), ("nested", "auto", 3), ("flat", "flatten", 3)):
            drv = OverlayDriver(home / name, support=support, deep=deep)  # type: ignore[arg-type]
            drv.max_lowers = cap or drv.max_lowers
            made[name] = drv
        made["replay"] = CopyDriver(home / "r")
        try:
            yield made
        finally:
            for drv in made.values():
                drv.cleanup()
            for m in mnt.mounts_under(home):
                mnt.umount(m.mountpoint, mnt.MNT_DETACH)


def build(drv: Driver, layers: list[bytes]) -> str:
    parent = None
    for i, tar in enumerate(layers):
        drv.create(f"l{i}", parent)
        drv.apply_diff(f"l{i}", parent, io.BytesIO(tar))
        parent = f"l{i}"
    assert parent is not None
    return parent


def merged_snapshot(drv: Driver, layer_id: str) -> dict[str, tuple[object, ...]]:
    try:
        return tree_snapshot(drv.mount(layer_id))
    finally:
        drv.unmount(layer_id)


@settings(max_examples=25, deadline=None)
@given(layers=stacks())
def test_drivers_agree_and_diffs_round_trip(support: object, layers: list[list[tuple[str, Node]]]):
    tars = [layer_tar(spec) for spec in layers]
    with drivers(support) as made:
        top = {name: build(drv, tars) for name, drv in made.items() if name != "replay"}
        expected = merged_snapshot(made["copy"], top["copy"])
        for name in ("overlay", "nested", "flat"):
            assert merged_snapshot(made[name], top[name]) == expected, name
        for source in ("overlay", "copy"):
            replay = made["replay"]
            for layer_id in list(replay_layers(replay)):
                replay.remove(layer_id)
            diffs = []
            for i in range(len(tars)):
                out = io.BytesIO()
                made[source].diff(f"l{i}", f"l{i - 1}" if i else None, out)
                diffs.append(out.getvalue())
            assert merged_snapshot(replay, build(replay, diffs)) == expected, f"replay of {source} diffs"


def replay_layers(drv: Driver) -> list[str]:
    return sorted((lid for lid in (f"l{i}" for i in range(8)) if drv.exists(lid)), reverse=True)
