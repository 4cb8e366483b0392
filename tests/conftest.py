"""Shared fixtures: env isolation, temp roots, probe-based skip markers, report header."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lamina.testing import probes

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"
if not CONFORMANCE.exists():  # a clean clone has shared/ beside the repo
    CONFORMANCE = Path(__file__).resolve().parents[1].parent / "shared" / "conformance"

needs_root = pytest.mark.skipif(probes.root() is not None, reason=str(probes.root()))


def skip_unless(probe_name: str) -> pytest.MarkDecorator:
    """``@skip_unless("overlay")`` skips with the probe's reason when the capability is missing."""
    reason = probes.ALL[probe_name]()
    return pytest.mark.skipif(reason is not None, reason=str(reason))


def pytest_report_header(config: pytest.Config) -> str:
    on, off = [], []
    for name, probe in probes.ALL.items():
        (off if probe() else on).append(name)
    return f"enabled: {', '.join(on) or '-'} / disabled: {', '.join(off) or '-'}"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith(("LAMINA_", "DOCKER_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LAMINA_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def conformance() -> Path:
    if not CONFORMANCE.exists():
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    return CONFORMANCE


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The deterministic busybox rootfs tar (lamina.testing.rootfs), made once per session."""
    if probes.busybox():
        pytest.skip(str(probes.busybox()))
    from lamina.testing.rootfs import write_tar
    return write_tar(tmp_path_factory.mktemp("rootfs") / "busybox.tar")


@pytest.fixture
def lamina_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    return root
