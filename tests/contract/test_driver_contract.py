"""One contract suite run over every storage driver (copy always; overlay and btrfs when they work).

Every ``Driver`` protocol method has at least one test here. btrfs runs on a
loop-mounted btrfs image file and skips with the reason when that cannot be made.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina._internal import mount as mnt
from lamina.driver import select
from lamina.driver.protocol import Driver
from lamina.errors import Conflict, InvalidArgument, LayerNotFound
from lamina.layer.changes import ChangeKind
from lamina.testing import probes
from lamina.testing.trees import Dir, File, Hardlink, Opaque, Symlink, Whiteout, layer_tar, snapshot, tar_names

needs_overlay = pytest.mark.skipif(probes.overlay() is not None, reason=str(probes.overlay()))


def _btrfs_unavailable() -> str | None:
    if probes.root():
        return "btrfs loop mounts need root"
    for tool in ("mkfs.btrfs", "btrfs"):
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install btrfs-progs)"
    if "btrfs" not in Path("/proc/filesystems").read_text():
        return "the kernel has no btrfs"
    return None


@pytest.fixture(scope="session")
def btrfs_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 256 MiB btrfs image file, loop-mounted for the whole session."""
    reason = _btrfs_unavailable()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("btrfs")
    image, point = base / "fs.img", base / "mnt"
    point.mkdir()
    with open(image, "wb") as f:
        f.truncate(256 << 20)
    for cmd in (["mkfs.btrfs", "-q", str(image)], ["mount", "-o", "loop", str(image), str(point)]):
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            pytest.skip(f"cannot make a btrfs loop mount: {' '.join(cmd[:1])}: {res.stderr.strip()}")
    yield point
    subprocess.run(["umount", "-l", str(point)], check=False)
    image.unlink()


@pytest.fixture(params=[pytest.param("copy"), pytest.param("overlay", marks=needs_overlay),
                        pytest.param("btrfs")])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    home = tmp_path / "home"
    if request.param == "btrfs":
        home = request.getfixturevalue("btrfs_home") / uuid.uuid4().hex[:8]
    drv = select(request.param, home)
    assert drv.name == request.param
    try:
        yield drv
    finally:
        drv.cleanup()
        for m in mnt.mounts_under(home):
            mnt.umount(m.mountpoint, mnt.MNT_DETACH)


def apply(drv: Driver, layer_id: str, parent: str | None, spec: object, *, writable: bool = False) -> int:
    drv.create(layer_id, parent, writable=writable)
    return drv.apply_diff(layer_id, parent, io.BytesIO(layer_tar(spec)))  # type: ignore[arg-type]


BASE = {"etc": Dir(mode=0o755), "etc/passwd": File(b"root:x:0:0\n"), "etc/group": File(b"root:x:0:\n"),
        "etc/pw": Hardlink("etc/passwd"), "bin": Symlink("usr/bin"), "usr": Dir(), "usr/bin": Dir(),
        "usr/bin/sh": File(b"#!", mode=0o755), "var": Dir(), "var/lib": Dir(), "var/lib/x": File(b"x")}
TOP = [("etc", Dir()), ("etc/group", Whiteout()), ("etc/hosts", File(b"127.0.0.1 localhost\n")),
       ("var", Dir()), ("var/lib", Dir()), ("var/lib", Opaque()), ("var/lib/y", File(b"y"))]


def stack(drv: Driver) -> None:
    apply(drv, "base", None, BASE)
    apply(drv, "top", "base", TOP)


# ---------------------------------------------------------------- create / exists / remove
def test_create_exists_remove(driver: Driver):
    assert not driver.exists("l1")
    driver.create("l1", None)
    assert driver.exists("l1")
    driver.remove("l1")
    assert not driver.exists("l1")
    driver.remove("l1")  # idempotent


def test_create_twice_conflicts_and_bad_parent_is_not_found(driver: Driver):
    driver.create("l1", None)
    with pytest.raises(Conflict):
        driver.create("l1", None)
    with pytest.raises(LayerNotFound):
        driver.create("l2", "missing")
    assert not driver.exists("l2")


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", "x" * 200])
def test_layer_ids_must_be_plain_names(driver: Driver, bad: str):
    with pytest.raises(InvalidArgument):
        driver.create(bad, None)


def test_missing_layer_is_not_found(driver: Driver):
    with pytest.raises(LayerNotFound):
        driver.mount("nope")
    with pytest.raises(LayerNotFound):
        driver.metadata("nope")
    assert not driver.is_mounted("nope")


# ---------------------------------------------------------------- apply_diff / mount
def test_apply_diff_returns_size_and_mount_shows_the_merged_tree(driver: Driver):
    assert apply(driver, "base", None, BASE) == len(b"root:x:0:0\nroot:x:0:\n#!x")
    apply(driver, "top", "base", TOP)
    merged = driver.mount("top")
    try:
        assert (merged / "etc/passwd").read_bytes() == b"root:x:0:0\n"
        assert not (merged / "etc/group").exists()
        assert (merged / "etc/hosts").exists()
        assert os.readlink(merged / "bin") == "usr/bin"
        assert sorted(os.listdir(merged / "var/lib")) == ["y"]
        assert (merged / "etc/pw").stat().st_ino == (merged / "etc/passwd").stat().st_ino
    finally:
        driver.unmount("top")


def test_mount_is_counted_and_idempotent(driver: Driver):
    stack(driver)
    first = driver.mount("top")
    assert driver.mount("top") == first
    assert driver.is_mounted("top")
    driver.unmount("top")
    assert driver.is_mounted("top")
    assert (first / "etc/passwd").exists()
    driver.unmount("top")
    assert not driver.is_mounted("top")
    driver.unmount("top")  # one more is a no-op
    assert not driver.is_mounted("top")


def test_parent_stays_unchanged_by_child_layers(driver: Driver):
    stack(driver)
    merged = driver.mount("base")
    try:
        assert (merged / "etc/group").exists()
        assert (merged / "var/lib/x").exists()
    finally:
        driver.unmount("base")


def test_writable_layer_takes_writes_and_reports_them(driver: Driver):
    stack(driver)
    driver.create("rw", "top", writable=True)
    merged = driver.mount("rw")
    try:
        (merged / "new").write_text("n")
        (merged / "etc/passwd").unlink()
        (merged / "etc/hosts").write_text("changed")
    finally:
        driver.unmount("rw")
    got = {(c.kind, c.path) for c in driver.changes("rw", "top")}
    assert {(ChangeKind.ADD, "/new"), (ChangeKind.DELETE, "/etc/passwd"),
            (ChangeKind.MODIFY, "/etc/hosts")} <= got
    assert (ChangeKind.ADD, "/etc/group") not in got


def test_mount_state_is_shared_across_processes(driver: Driver):
    stack(driver)
    code = ("import sys; from pathlib import Path; from lamina.driver import select; "
            f"d = select({driver.name!r}, Path(sys.argv[1])); print(d.mount('top'))")
    out = subprocess.run([sys.executable, "-c", code, str(driver.home)], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert driver.is_mounted("top")
    assert Path(out) == driver.mount("top")   # sees the other process's mount: count 2
    driver.unmount("top")
    assert driver.is_mounted("top")
    driver.unmount("top")                     # the other process's reference
    assert not driver.is_mounted("top")


def test_stale_mount_count_is_healed(driver: Driver):
    stack(driver)
    driver.mount("top")
    driver.unmount("top")
    layer_dir = driver.home / driver.name / "top"
    (layer_dir / "mounts").write_text("7")   # left behind by a crashed process
    if driver.name == "overlay":
        assert not driver.is_mounted("top")
    driver.mount("top")
    driver.unmount("top")
    if driver.name == "overlay":
        assert not driver.is_mounted("top")


def test_remove_unmounts_a_mounted_layer(driver: Driver):
    stack(driver)
    merged = driver.mount("top")
    driver.remove("top")
    assert not driver.exists("top")
    assert not mnt.is_mountpoint(merged)


def test_cleanup_gives_back_this_process_references(driver: Driver):
    stack(driver)
    driver.mount("top")
    driver.mount("top")
    driver.mount("base")
    driver.cleanup()
    assert not driver.is_mounted("top")
    assert not driver.is_mounted("base")


# ---------------------------------------------------------------- changes / diff / diff_size
def test_changes_against_parent(driver: Driver):
    stack(driver)
    got = [(c.kind, c.path) for c in driver.changes("top", "base")]
    assert (ChangeKind.DELETE, "/etc/group") in got
    assert (ChangeKind.ADD, "/etc/hosts") in got
    assert (ChangeKind.ADD, "/var/lib/y") in got
    assert all(c.kind == ChangeKind.ADD for c in driver.changes("base", None))


def test_diff_is_a_tar_with_oci_whiteouts(driver: Driver):
    stack(driver)
    out = io.BytesIO()
    driver.diff("top", "base", out, epoch=1)
    names = tar_names(out.getvalue())
    assert "etc/.wh.group" in names
    assert "etc/hosts" in names
    assert "var/lib/y" in names
    assert "etc/passwd" not in names
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        assert all(m.mtime <= 1 for m in tf.getmembers())


def test_diff_of_base_round_trips_through_a_fresh_layer(driver: Driver):
    stack(driver)
    out = io.BytesIO()
    driver.diff("base", None, out)
    out.seek(0)
    driver.create("again", None)
    driver.apply_diff("again", None, out)
    a, b = driver.mount("base"), driver.mount("again")
    try:
        assert snapshot(a) == snapshot(b)
    finally:
        driver.unmount("base")
        driver.unmount("again")


def test_diff_size_counts_new_regular_bytes(driver: Driver):
    stack(driver)
    assert driver.diff_size("top", "base") == len(b"127.0.0.1 localhost\n") + len(b"y")
    assert driver.diff_size("base", None) == len(b"root:x:0:0\nroot:x:0:\n#!x") + len("usr/bin")  # symlinks count


def test_diff_against_another_parent(driver: Driver):
    stack(driver)
    apply(driver, "third", "top", {"z": File(b"zz")})
    names = {c.path for c in driver.changes("third", "base")}
    assert {"/z", "/etc/hosts", "/etc/group"} <= names


# ---------------------------------------------------------------- metadata / status
def test_metadata_names_the_layer_dirs(driver: Driver):
    stack(driver)
    meta = driver.metadata("top")
    assert meta
    if driver.name == "overlay":
        assert set(meta) == {"LowerDir", "UpperDir", "WorkDir", "MergedDir"}
        assert meta["LowerDir"] == str(driver.home / "overlay" / "base" / "diff")
        assert "LowerDir" not in driver.metadata("base")
    assert all(os.path.isabs(v.split(":")[0]) for v in meta.values())


def test_status_is_a_list_of_pairs(driver: Driver):
    status = driver.status()
    assert status
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in status)
    assert dict(status)["Backing Filesystem"]
