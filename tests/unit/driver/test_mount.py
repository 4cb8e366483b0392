"""lamina._internal.mount: mountinfo parsing and the mount helpers (real mounts need root)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lamina._internal import mount as mnt
from lamina.testing import probes

needs_root = pytest.mark.skipif(probes.root() is not None, reason=str(probes.root()))
needs_overlay = pytest.mark.skipif(probes.overlay() is not None, reason=str(probes.overlay()))

LINE = ("36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root "
        "rw,errors=continue")


def test_parse_mountinfo_line_unescapes_and_splits_optional_fields():
    info = mnt.parse_mountinfo_line(LINE)
    assert info.mount_id == 36
    assert info.parent_id == 35
    assert info.root == "/mnt1"
    assert info.mountpoint == "/mnt/with space"
    assert info.options == "rw,noatime"
    assert info.fstype == "ext3"
    assert info.source == "/dev/root"
    assert info.super_options == "rw,errors=continue"


def test_parse_mountinfo_line_without_optional_fields():
    info = mnt.parse_mountinfo_line("22 1 0:21 / /proc rw,nosuid - proc proc rw")
    assert (info.mountpoint, info.fstype, info.source) == ("/proc", "proc", "proc")


def test_mountinfo_lists_root_and_is_mountpoint(tmp_path: Path):
    assert any(m.mountpoint == "/" for m in mnt.mountinfo())
    assert mnt.is_mountpoint("/")
    assert not mnt.is_mountpoint(tmp_path)
    assert not mnt.is_mountpoint(tmp_path / "missing")


def test_fstype_of_names_the_holding_mount():
    assert mnt.fstype_of("/proc/self") == "proc"


def test_umount_of_a_plain_dir_raises_einval(tmp_path: Path):
    if probes.root():
        pytest.skip(str(probes.root()))
    with pytest.raises(OSError) as info:
        mnt.umount(tmp_path)
    assert info.value.errno == 22


@needs_root
def test_bind_mount_readonly_and_unmount(tmp_path: Path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "f").write_text("x")
    mnt.bind_mount(src, dst, readonly=True)
    try:
        assert mnt.is_mountpoint(dst)
        assert (dst / "f").read_text() == "x"
        with pytest.raises(OSError):
            (dst / "g").write_text("y")
    finally:
        mnt.umount(dst)
    assert not mnt.is_mountpoint(dst)


@needs_root
def test_mounts_at_matches_escaped_mount_points(tmp_path: Path):
    """mountinfo writes a space as \\040: a mount point with one is still found, and only that one."""
    src, dst = tmp_path / "src", tmp_path / "a dir\\with odd\tnames"
    src.mkdir()
    dst.mkdir()
    mnt.bind_mount(src, dst)
    try:
        (found,) = mnt.mounts_at(dst)
        assert found.mountpoint == str(dst) and mnt.is_mountpoint(dst)
        assert mnt.mounts_at(tmp_path) == [] and not mnt.is_mountpoint(src)
    finally:
        mnt.umount(dst)
    assert mnt.mounts_at(dst) == []


def _layers(tmp_path: Path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        d = tmp_path / f"L{i}"
        d.mkdir()
        (d / f"f{i}").write_text(str(i))
        paths.append(str(d))
    return paths[::-1]


@needs_overlay
def test_fs_mount_overlay_lowerdir_plus_and_kernel_message(tmp_path: Path):
    if mnt.new_mount_api():
        pytest.skip(f"needs the new mount API: {mnt.new_mount_api()}")
    lowers = _layers(tmp_path, 3)
    target = tmp_path / "m"
    target.mkdir()
    mnt.fs_mount("overlay", target, [("lowerdir+", p) for p in lowers], source="overlay", readonly=True)
    try:
        assert sorted(os.listdir(target)) == ["f0", "f1", "f2"]
        assert mnt.mounts_at(target)[0].fstype == "overlay"
        assert mnt.mounts_under(tmp_path)[0].mountpoint == str(target)
    finally:
        mnt.umount(target)
    with pytest.raises(OSError) as info:
        mnt.fs_mount("overlay", target, [("lowerdir+", str(tmp_path / "missing"))], source="overlay")
    assert "missing" in str(info.value)


@needs_overlay
def test_legacy_mount_with_relative_lowers(tmp_path: Path):
    _layers(tmp_path, 2)
    target = tmp_path / "m"
    target.mkdir()
    mnt.mount("overlay", target, "overlay", mnt.MS_RDONLY, "lowerdir=L1:L0", cwd=tmp_path)
    try:
        assert sorted(os.listdir(target)) == ["f0", "f1"]
        assert Path.cwd() != tmp_path
    finally:
        mnt.umount(target)


@needs_overlay
def test_fs_option_supported_rejects_unknown_options():
    if mnt.new_mount_api():
        pytest.skip(f"needs the new mount API: {mnt.new_mount_api()}")
    assert mnt.fs_option_supported("overlay", "index", "off")
    assert not mnt.fs_option_supported("overlay", "no-such-option", "x")
