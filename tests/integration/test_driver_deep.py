"""Stacks past the kernel's 500-lower cap: 1,050 overlay layers mount, show the bottom, honour whiteouts.

The same stack is mounted four ways: the default (a flattened prefix under nested
overlays, new mount API), mount(2) with l/ short links (99 lowers a mount, so both
nesting and flattening run), flattening only, and as the parent of a writable layer.
All must give the same tree. Whiteouts and opaque dirs crossing the nesting and
flattening boundaries are covered with small stacks in test_driver_differential.py.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina._internal import mount as mnt
from lamina.driver.overlay import OverlayDriver
from lamina.testing import probes
from lamina.testing.trees import Dir, File, Opaque, Whiteout, layer_tar, snapshot

pytestmark = pytest.mark.skipif(probes.overlay() is not None, reason=str(probes.overlay()))

DEPTH = 1050


def layer_spec(i: int) -> list[tuple[str, object]]:
    spec: list[tuple[str, object]] = [(f"f{i:04d}", File(str(i).encode()))]
    if i == 0:
        spec += [("bottom", File(b"bottom")), ("dir", Dir()), ("dir/keep", File(b"k")),
                 ("dir/gone", File(b"g")), ("opq", Dir()), ("opq/old", File(b"o"))]
    elif i == 300:     # deep inside the bottom nested group
        spec += [("dir", Dir()), ("dir/gone", Whiteout()), ("f0007", Whiteout())]
    elif i == 700:     # inside the second nested group
        spec += [("opq", Dir()), ("opq", Opaque()), ("opq/new", File(b"n"))]
    elif i == 1040:    # among the direct lowers
        spec += [("f1000", Whiteout())]
    return spec


@pytest.fixture(scope="module")
def deep_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("deep")
    driver = OverlayDriver(home)
    parent = None
    for i in range(DEPTH):
        layer_id = f"layer{i:04d}"
        driver.create(layer_id, parent)
        driver.apply_diff(layer_id, parent, io.BytesIO(layer_tar(layer_spec(i))))
        parent = layer_id
    yield home
    for m in mnt.mounts_under(home):
        mnt.umount(m.mountpoint, mnt.MNT_DETACH)


TOP = f"layer{DEPTH - 1:04d}"


def check_tree(merged: Path) -> None:
    assert (merged / "bottom").read_bytes() == b"bottom"
    assert (merged / "dir/keep").exists()
    assert not (merged / "dir/gone").exists()
    assert os.listdir(merged / "opq") == ["new"]
    names = {n for n in os.listdir(merged) if n.startswith("f")}
    assert len(names) == DEPTH - 2
    assert "f0007" not in names and "f1000" not in names and "f1049" in names


@pytest.mark.parametrize("options", [{"deep": "auto"}, {"deep": "auto", "legacy_mount": True},
                                     {"deep": "flatten"}], ids=["auto", "auto-legacy", "flatten"])
def test_deep_stack_mounts_with_every_strategy(deep_home: Path, options: dict[str, object]):
    driver = OverlayDriver(deep_home, **options)  # type: ignore[arg-type]
    merged = driver.mount(TOP)
    try:
        check_tree(merged)
        assert len(mnt.mounts_under(deep_home)) == 1   # nested mounts are detached right away
    finally:
        driver.cleanup()
    assert not driver.is_mounted(TOP)


def test_deep_strategies_agree(deep_home: Path):
    trees = []
    for options in ({"deep": "auto"}, {"deep": "flatten"}, {"legacy_mount": True}):
        driver = OverlayDriver(deep_home, **options)  # type: ignore[arg-type]
        try:
            trees.append(snapshot(driver.mount(TOP)))
        finally:
            driver.cleanup()
    assert trees[0] == trees[1] == trees[2]


def test_writable_layer_on_a_deep_stack(deep_home: Path):
    driver = OverlayDriver(deep_home)
    driver.create("rw", TOP, writable=True)
    try:
        merged = driver.mount("rw")
        check_tree(merged)
        (merged / "bottom").write_bytes(b"changed")
        (merged / "dir/keep").unlink()
        driver.unmount("rw")
        changes = {(str(c.kind), c.path) for c in driver.changes("rw", TOP)}
        assert changes == {("C", "/bottom"), ("C", "/dir"), ("D", "/dir/keep")}
        assert driver.metadata("rw")["LowerDir"].count(":") == DEPTH - 1
    finally:
        driver.cleanup()
        driver.remove("rw")
