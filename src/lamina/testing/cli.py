"""A black-box runner for the lamina CLI: ``python -m lamina --root <dir>`` as a subprocess.

Must not be imported by lamina itself; tests and benchmarks use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


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

    def __call__(self, *args: str, input: bytes | None = None,
                 env: dict[str, str] | None = None) -> Result:
        cmd = [sys.executable, "-m", "lamina", "--root", str(self.root)]
        if self.driver:
            cmd += ["--storage-driver", self.driver]
        proc = subprocess.run([*cmd, *args], input=input, capture_output=True, timeout=300,
                              env={**os.environ, **(env or {})}, check=False)
        return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))

    def ok(self, *args: str, **kwargs: object) -> str:
        res = self(*args, **kwargs)  # type: ignore[arg-type]
        if res.code != 0:
            raise AssertionError(f"lamina {' '.join(args)} exited {res.code}: {res.err}")
        return res.out
