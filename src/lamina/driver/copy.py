"""The copy driver: every layer dir is a full copy of its parent's tree (docker's vfs).

Works on any file system without privileges beyond what the layer contents need
(device nodes and ownership need root). Must not mount anything: ``mount`` returns
the layer's own tree and only keeps the on-disk reference count.

Layout under ``<home>/copy/``::

    <layer_id>/fs/        the layer's full tree (parent copy + its own changes)
    <layer_id>/parent     parent layer id, empty for a base layer
    <layer_id>/writable   present for a container's read-write layer
    <layer_id>/mounts     mount reference count (with mount.lock)

Copies use ``cp -a --reflink=auto`` (hard links, xattrs, devices, ownership and
timestamps kept; shares extents on btrfs/xfs). ``apply_diff`` applies with OCI
whiteouts (deleting what ``.wh.`` entries name); ``changes`` walks parent and layer.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import BinaryIO

from lamina._internal.logs import get_logger
from lamina._internal.mount import fstype_of
from lamina._internal.proc import die_with_parent
from lamina.driver.base import NaiveDiff
from lamina.errors import InternalError, NoSpace
from lamina.layer.apply import apply_layer
from lamina.layer.whiteout import OCIWhiteouts

log = get_logger(__name__)


def copy_tree(source: Path, dest: Path) -> None:
    """Copy the tree *source* to the new path *dest* with ``cp -a --reflink=auto``."""
    res = subprocess.run(["cp", "-a", "--reflink=auto", "--", f"{source}/.", str(dest)],
                         capture_output=True, text=True, check=False,
                         preexec_fn=die_with_parent)
    if res.returncode != 0:
        if "No space left" in res.stderr:
            raise NoSpace(str(dest))
        raise InternalError(f"copy layer tree {source} to {dest}: {res.stderr.strip()}", path=str(dest))


class CopyDriver(NaiveDiff):
    """Full copies per layer; no mounts. See the module docstring for the layout."""

    name = "copy"

    def _tree(self, layer_id: str) -> Path:
        return self._layer_dir(layer_id) / "fs"

    def _populate(self, layer_id: str, parent: str | None, staging: Path, *, writable: bool) -> None:
        fs = staging / "fs"
        if parent is None:
            fs.mkdir(mode=0o755)
            os.chmod(fs, 0o755)
            return
        fs.mkdir()
        self._clone(self._tree(parent), fs)

    def _clone(self, source: Path, dest: Path) -> None:
        copy_tree(source, dest)

    # -------------------------------------------------------------- mounting is bookkeeping only
    def _activate(self, layer_id: str) -> None:
        pass

    def _deactivate(self, layer_id: str) -> None:
        pass

    def _is_active(self, layer_id: str) -> bool:
        return self._read_count(layer_id) > 0

    def _view(self, layer_id: str) -> Path:
        return self._tree(layer_id)

    # -------------------------------------------------------------- content
    def apply_diff(self, layer_id: str, parent: str | None, tar_stream: BinaryIO) -> int:
        """Apply an uncompressed layer tar (OCI whiteouts) onto the layer's tree; return its size."""
        result = apply_layer(tar_stream, self._require_tree(layer_id), whiteouts=OCIWhiteouts())
        return result.size

    def metadata(self, layer_id: str) -> dict[str, str]:
        return {"Dir": str(self._require_tree(layer_id))}

    def status(self) -> list[tuple[str, str]]:
        return [("Backing Filesystem", fstype_of(self.root) or "unknown"),
                ("Copy", "cp -a --reflink=auto")]
