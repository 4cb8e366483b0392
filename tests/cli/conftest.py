"""Black-box CLI fixtures: run ``python -m lamina --root <tmp>`` as a subprocess, and a busybox image."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from lamina.testing import probes


@dataclass
class Result:
    code: int
    out: str
    err: str


class Lamina:
    """Runs the CLI against one root; ``ok()`` asserts exit 0 and returns stdout."""

    def __init__(self, root: Path, driver: str | None = None) -> None:
        self.root = root
        self.driver = driver

    def __call__(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> Result:
        cmd = [sys.executable, "-m", "lamina", "--root", str(self.root)]
        if self.driver:
            cmd += ["--storage-driver", self.driver]
        proc = subprocess.run([*cmd, *args], input=input, capture_output=True, timeout=300,
                              env={**os.environ, **(env or {})}, check=False)
        return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))

    def ok(self, *args: str, **kwargs: object) -> str:
        res = self(*args, **kwargs)  # type: ignore[arg-type]
        assert res.code == 0, f"lamina {' '.join(args)} exited {res.code}: {res.err}"
        return res.out


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if probes.busybox():
        pytest.skip(str(probes.busybox()))
    from lamina.testing.rootfs import write_tar
    return write_tar(tmp_path_factory.mktemp("rootfs") / "busybox.tar")


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
