"""Reproducibility: the same Dockerfile, context and base give the same image id in two fresh roots."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lamina.testing import probes
from lamina.testing.cli import Lamina

pytestmark = pytest.mark.skipif(probes.crun() is not None or probes.root() is not None,
                                reason=str(probes.crun() or probes.root()))


def test_same_digest_in_two_roots_at_different_times(tmp_path: Path, busybox_tar: Path) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "data").mkdir(parents=True)
    (ctx / "data" / "f.txt").write_text("payload\n")
    (ctx / "Dockerfile").write_text("FROM busybox\nWORKDIR /srv\nRUN echo fixed > /fixed && date +%Y > /y\n"
                                    "COPY data/ /srv/data/\nRUN touch /srv/stamp\nCMD [\"sh\"]\n")
    ids = []
    for n in range(2):
        lamina = Lamina(tmp_path / f"root{n}")
        env = {"SOURCE_DATE_EPOCH": "1700000000"}
        lamina.ok("import", str(busybox_tar), "busybox:latest", env=env)
        os.utime(ctx / "data" / "f.txt")  # a new mtime must not change the digest
        lamina.ok("build", "-q", "-t", "repro", str(ctx))
        ids.append(lamina.ok("inspect", "--format", "{{.Id}}", "repro").strip())
        time.sleep(1.1)
    assert ids[0] == ids[1]
