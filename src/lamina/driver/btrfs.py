"""The btrfs driver: every layer is a btrfs subvolume, a child is a snapshot of its parent.

Must not be used off btrfs (``probe.probe_btrfs`` checks) and must not mount anything:
like the copy driver, ``mount`` returns the subvolume dir and keeps only the count.
Subvolumes are made and deleted with the ``btrfs`` CLI (Debian: btrfs-progs); a
snapshot is O(1) and shares extents, so this is the copy driver without the copying.

Layout under ``<home>/btrfs/``: ``<layer_id>/fs`` is the subvolume; the other files
(``parent``, ``writable``, ``mounts``) are as in the copy driver. Diffs walk two
subvolumes (naive diff) and ``apply_diff`` applies with OCI whiteouts.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from lamina._internal.mount import fstype_of
from lamina._internal.proc import die_with_parent
from lamina.driver.copy import CopyDriver
from lamina.errors import DriverNotSupported, InternalError, NoSpace


def btrfs(*args: str) -> None:
    """Run ``btrfs <args>``; map its failure to a lamina error."""
    res = subprocess.run(["btrfs", *args], capture_output=True, text=True, check=False,
                         preexec_fn=die_with_parent)
    if res.returncode != 0:
        message = res.stderr.strip() or res.stdout.strip()
        if "No space left" in message:
            raise NoSpace(args[-1])
        raise InternalError(f"run btrfs {' '.join(args)}: {message}", path=args[-1])


class BtrfsDriver(CopyDriver):
    """Subvolume per layer; snapshots instead of copies. See the module docstring."""

    name = "btrfs"

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        if fstype_of(self.root) != "btrfs":
            raise DriverNotSupported("btrfs", f"{self.root} is not on btrfs")

    def _populate(self, layer_id: str, parent: str | None, staging: Path, *, writable: bool) -> None:
        fs = staging / "fs"
        if parent is None:
            btrfs("subvolume", "create", str(fs))
        else:
            btrfs("subvolume", "snapshot", str(self._tree(parent)), str(fs))

    def _removing(self, layer_id: str) -> None:
        fs = self._tree(layer_id)
        if fs.exists():
            btrfs("subvolume", "delete", str(fs))

    def status(self) -> list[tuple[str, str]]:
        return [("Backing Filesystem", "btrfs"), ("Layers", "subvolume snapshots")]
