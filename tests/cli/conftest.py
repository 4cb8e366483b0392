"""Black-box CLI fixtures: run ``python -m lamina --root <tmp>`` as a subprocess, and a busybox image."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.testing import probes
from lamina.testing.cli import Lamina


@pytest.fixture(params=["copy", pytest.param("overlay", marks=pytest.mark.skipif(
    probes.overlay() is not None, reason=str(probes.overlay())))])
def lamina(request: pytest.FixtureRequest, tmp_path: Path) -> Lamina:
    """The CLI on a fresh root, once per storage driver."""
    root = tmp_path / "root"
    yield_value = Lamina(root, request.param)
    return yield_value


@pytest.fixture
def lamina_copy(tmp_path: Path) -> Lamina:
    return Lamina(tmp_path / "root", "copy")


@pytest.fixture
def busybox(lamina: Lamina, busybox_tar: Path) -> str:
    """A root with busybox:latest imported; returns the image ID."""
    return lamina.ok("import", "-c", 'CMD ["/bin/sh"]', str(busybox_tar), "busybox:latest").strip()
