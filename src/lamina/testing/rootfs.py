"""Make a busybox base rootfs offline from Debian's busybox-static, as a dir or a deterministic tar.

Must not be imported by lamina itself: it serves the demo, the tests and the benchmarks.

    python -m lamina.testing.rootfs OUT.tar     # then: lamina import OUT.tar busybox:latest

The tree matches ../shared/peers/setup.sh's ``bbase`` (applet symlinks in their standard
places, passwd/group, /etc/motd and /opt/replace for whiteout demos), with every mtime at
2000-01-01 and root ownership, so the tar and thus the image ID are the same on every machine
with the same busybox-static package.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from lamina.layer.untar import extract_all

EPOCH = 946684800  # 2000-01-01T00:00:00Z
BUSYBOX = "/bin/busybox"

_DIRS = {"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755, "etc": 0o755,
         "root": 0o700, "tmp": 0o1777, "dev": 0o755, "proc": 0o755, "sys": 0o755, "var": 0o755,
         "var/tmp": 0o1777, "opt": 0o755, "opt/replace": 0o755, "app": 0o755}
_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/hostname": "lamina-bbase\n",
    "etc/motd": "welcome to bbase (deleted by the W1 build to produce a whiteout)\n",
    "etc/bbase-version": "1\n",
    "opt/replace/a": "old-a\n",
    "opt/replace/b": "old-b\n",
}


def applets(busybox: str = BUSYBOX) -> list[str]:
    """Full install paths of every applet (``bin/sh``, ``usr/bin/env`` …), from ``busybox --list-full``."""
    out = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout
    return sorted(line.strip() for line in out.splitlines() if line.strip())


def _entries(busybox: str) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    entries: list[tuple[tarfile.TarInfo, bytes | None]] = []

    def info(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.size, ti.linkname, ti.mtime = kind, mode, size, link, EPOCH
        return ti

    for d, mode in _DIRS.items():
        entries.append((info(d, tarfile.DIRTYPE, mode), None))
    data = Path(busybox).read_bytes()
    entries.append((info("bin/busybox", tarfile.REGTYPE, 0o755, len(data)), data))
    for name, text in _FILES.items():
        body = text.encode()
        entries.append((info(name, tarfile.REGTYPE, 0o644, len(body)), body))
    for path in applets(busybox):
        if path != "bin/busybox":  # absolute links, as `busybox --install -s` makes them
            entries.append((info(path, tarfile.SYMTYPE, 0o777, link="/bin/busybox"), None))
    entries.sort(key=lambda e: e[0].name)
    return entries


def write_tar(out: Path, busybox: str = BUSYBOX) -> Path:
    """Write the deterministic base rootfs tar to *out* (atomically) and return it."""
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for ti, body in _entries(busybox):
            tar.addfile(ti, io.BytesIO(body) if body is not None else None)
    os.replace(tmp, out)
    return out


def make_rootfs(dest: Path, busybox: str = BUSYBOX) -> Path:
    """Extract the base rootfs into *dest* (for runtime tests that need a plain directory)."""
    dest.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for ti, body in _entries(busybox):
            tar.addfile(ti, io.BytesIO(body) if body is not None else None)
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="r") as tar:
        extract_all(tar, dest, trusted=True)
    return dest


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m lamina.testing.rootfs OUT.tar")
    print(write_tar(Path(sys.argv[1])))
