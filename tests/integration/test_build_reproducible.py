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



def test_rebuild_after_one_file_changed_equals_a_fresh_build(tmp_path: Path, busybox_tar: Path) -> None:
    """A COPY into a new directory is written straight into the layer (no overlay mount); a RUN
    after it lists the files with their link counts, so a shared inode would show in its layer."""
    ctx = tmp_path / "ctx"
    (ctx / "data" / "sub").mkdir(parents=True)
    for n in range(20):
        (ctx / "data" / ("sub" if n % 2 else "") / f"f{n}.txt").write_text(f"payload {n}\n")
    os.chmod(ctx / "data" / "f0.txt", 0o4755)
    (ctx / "Dockerfile").write_text("FROM busybox\nWORKDIR /srv\nCOPY data/ /srv/data/\n"
                                    "RUN ls -lnR /srv/data > /listing\n")
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    first, fresh = Lamina(tmp_path / "root1"), Lamina(tmp_path / "root2")
    for lamina in (first, fresh):
        lamina.ok("import", str(busybox_tar), "busybox:latest", env=env)
    first.ok("build", "-q", "-t", "repro", str(ctx), env=env)
    (ctx / "data" / "sub" / "f3.txt").write_text("changed\n")
    again = first.ok("build", "-q", "-t", "repro", str(ctx), env=env).strip()
    assert fresh.ok("build", "-q", "-t", "repro", str(ctx), env=env).strip() == again
    listing = first.ok("run", "--rm", "--network", "none", "repro", "cat", "/listing")
    assert "-rwsr-xr-x    1 0        0" in listing   # set-uid kept, one link


@pytest.mark.skipif(probes.overlay() is not None, reason=str(probes.overlay()))
def test_overlay_direct_writes_equal_the_copy_driver(tmp_path: Path, busybox_tar: Path) -> None:
    """WORKDIR/COPY into new directories skip the overlay mount; the layers must be what the copy
    driver (a plain tree diff) makes: copied-up parents, owners, set-uid, symlinks."""
    ctx = tmp_path / "ctx"
    (ctx / "data" / "sub").mkdir(parents=True)
    for n in range(10):
        (ctx / "data" / "sub" / f"f{n}.txt").write_text(f"payload {n}\n")
    os.symlink("sub/f1.txt", ctx / "data" / "link")
    os.chmod(ctx / "data" / "sub" / "f0.txt", 0o4755)
    (ctx / "Dockerfile").write_text("FROM busybox\nWORKDIR /srv/a/b\nCOPY data/ /srv/data/\n"
                                    "COPY data/sub/f2.txt /etc/new/\nCOPY --chown=7:8 data /opt/x\n"
                                    "RUN ls -lnR /srv /opt /etc/new > /listing\n")
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    ids = []
    for driver in ("overlay", "copy"):
        lamina = Lamina(tmp_path / f"root-{driver}")
        lamina.ok("--storage-driver", driver, "import", str(busybox_tar), "busybox:latest", env=env)
        ids.append(lamina.ok("--storage-driver", driver, "build", "-q", "-t", "d", str(ctx), env=env).strip())
    assert ids[0] == ids[1]
