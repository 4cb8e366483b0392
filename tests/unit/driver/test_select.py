"""lamina.driver.select and the probes it relies on."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.driver import select
from lamina.driver.probe import probe_btrfs, probe_overlay, supports_d_type
from lamina.errors import DriverNotSupported
from lamina.testing import probes

needs_overlay = pytest.mark.skipif(probes.overlay() is not None, reason=str(probes.overlay()))


def test_copy_is_always_available(tmp_path: Path):
    driver = select("copy", tmp_path)
    assert driver.name == "copy"
    assert (tmp_path / "copy").is_dir()


def test_unknown_driver_is_not_supported(tmp_path: Path):
    with pytest.raises(DriverNotSupported) as info:
        select("zfs", tmp_path)
    assert info.value.driver == "zfs"


def test_btrfs_off_btrfs_says_why(tmp_path: Path):
    reason = probe_btrfs(tmp_path)
    if reason is None:
        pytest.skip("tmp_path is on btrfs")
    with pytest.raises(DriverNotSupported) as info:
        select("btrfs", tmp_path)
    assert info.value.reason == reason
    assert not (tmp_path / "btrfs").exists()


def test_auto_picks_overlay_when_it_mounts_else_copy(tmp_path: Path):
    driver = select("auto", tmp_path)
    expected = "overlay" if probes.overlay() is None else "copy"
    assert driver.name == expected
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".probe")]


def test_d_type_is_reported_on_the_test_fs(tmp_path: Path):
    assert supports_d_type(tmp_path) is True


@needs_overlay
def test_overlay_probe_reports_api_and_options(tmp_path: Path):
    support = probe_overlay(tmp_path)
    assert support.d_type
    keys = {k for k, _ in support.options}
    assert keys <= {"redirect_dir", "index", "metacopy"}
    assert list(tmp_path.iterdir()) == []


def test_overlay_probe_without_root_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(DriverNotSupported) as info:
        probe_overlay(tmp_path)
    assert "root" in info.value.reason
