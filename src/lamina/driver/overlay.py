"""The overlay driver: one overlayfs layer dir per layer, stacks of any depth.

Must not parse tar (``lamina.layer`` does) nor know chain ids except as opaque layer
ids. Needs root and a kernel overlay; ``probe.probe_overlay`` decides.

On-disk layout under ``<home>/overlay/`` (docker's overlay2, plus two dirs)::

    l/<SHORT>  -> ../<layer_id>/diff    26-char short link per layer (keeps mount(2) data small)
    <layer_id>/diff/        the layer's own files: upper dir, overlay whiteouts (0:0 char devs,
                            trusted.overlay.opaque=y)
    <layer_id>/work/        overlay workdir          <layer_id>/merged/   mount point
    <layer_id>/link         the layer's SHORT id     <layer_id>/lower     "l/A:l/B:..." parent chain,
                                                                          topmost first (absent at the base)
    <layer_id>/parent       parent id                <layer_id>/writable  marker of an rw layer
    <layer_id>/mounts       on-disk mount count (flock on mount.lock; see base.RefcountedDriver)
    empty/                  an empty lower, so a base layer still mounts as an overlay
    n/<SHORT>.<k>           transient mount points of nested overlays (detached right after use)
    flat/<SHORT>/           flattened prefix cache (only when nesting is impossible), keyed by
                            the prefix's top layer

A writable layer mounts ``upperdir=diff,workdir=work`` over its parents; a read-only
one mounts ``diff`` and its parents all as lowers, read-only. Options ``redirect_dir=off,
index=off,metacopy=off`` are passed when the kernel knows them, so ``diff/`` alone
describes a layer and ``changes``/``diff`` read it directly (native diff).

Mount API. With fsopen/fsconfig (the probe tries it) each lower is one
``fsconfig(lowerdir+, path)`` call: no page-size limit on mount data and no colon
escaping. Without it, mount(2) is called from inside ``<home>/overlay`` with relative
``l/<SHORT>`` paths (docker's trick), which fits 99 lowers in one page.

Deep stacks. The kernel caps one overlay at 500 lowers (OVL_MAX_STACK) and overlays
stack at most two deep (FILESYSTEM_MAX_STACK_DEPTH), so (with M = 500, or 99 with mount(2)):

* up to M lowers: one mount;
* up to 2M-1 (999): the bottom prefix (up to M layers, down to the base) is mounted
  read-only as an overlay of its own and becomes the lowest lower of the real mount.
  Right after the outer mount succeeds the inner one is detached (MNT_DETACH): overlayfs
  holds private clones of its layers, so it lives exactly as long as the outer mount
  and there is nothing to clean up. Only a *prefix* may be nested: an overlay's merged
  view hides its own whiteouts and opaque xattrs, so a nested group sitting on other
  layers could not delete anything below itself (tests/integration/test_driver_differential.py
  catches exactly that);
* deeper: the bottom of the chain, cut at multiples of 2M-2 (998) so stacks sharing a
  base share the cut, is flattened once into ``flat/<SHORT of the cut's top layer>/``: a
  ``cp -a`` of the prefix's merged view, which is exactly the tree the stack shows
  there, whiteouts applied. The flat dir is built the same way (flat + nesting), so
  any depth works. Removing a layer drops the flat dir keyed by it.

Measured on this machine (bench/depth_bench.py; kernel 6.18, ext4, new mount API, one
small file per layer; "cold" includes building flat dirs, "warm" is a later mount)::

    layers            125     500     750      998      1000     2000
    nest+flatten cold 3.3 ms  23 ms   52 ms    30 ms    2.0 s    6.4 s
    nest+flatten warm 3.0 ms  9.0 ms  30 ms    19 ms    3.8 ms   6.1 ms
    flatten-only cold 3.1 ms  19 ms   0.87 s   0.58 s   1.1 s    5.7 s
    flatten-only warm 2.9 ms  8.7 ms  6.5 ms   19 ms    4.2 ms   7.6 ms

Picked: nesting first, flattening past 999. Nesting costs no disk and no copy, so
stacks of 501..999 layers mount at once where flatten-only first copies the whole
prefix; past 999 both copy, and nesting makes half as many (larger) cuts, so fewer
flat dirs take disk; warm mounts are a few ms either way (cold figures vary by ~2x
with writeback). Flatten-only (``deep="flatten"``) remains the automatic fallback
when a nested mount fails, e.g. with ``<home>`` already on overlayfs (one stacking
level used up).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from lamina._internal import mount as mnt
from lamina._internal.fsops import rmtree
from lamina._internal.locking import FileLock
from lamina._internal.logs import get_logger
from lamina._internal.records import Record, record
from lamina.driver.base import RefcountedDriver, changes_size
from lamina.driver.probe import OverlaySupport, probe_overlay
from lamina.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:   # layer walkers, tar code and the copy driver load when used, not on ``run``
    from typing import BinaryIO

    from lamina.layer.changes import Change

log = get_logger(__name__)

MAX_LOWERS = 500          # OVL_MAX_STACK in fs/overlayfs
LEGACY_MAX_LOWERS = 99    # (4096 - 512 reserved - 2 x 134 upper/work - 30) // 33 bytes per "n/<SHORT>.kkk:"
SHORT_LEN = 26
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"   # short link names, as base64.b32encode spells them


def new_short_id() -> str:
    """26 upper-case base32 characters, like docker's overlay2 ``l/`` names."""
    return "".join(_BASE32[b & 31] for b in os.urandom(SHORT_LEN))


@record
class Lower(Record):
    """One lower of a mount: the short id of its layer ("" for the empty dir) and its path."""

    short: str
    path: str


def stack_cut(n: int, max_lowers: int, *, nest: bool) -> int:
    """How many bottom layers of an n-lower stack one flat dir replaces (0: none).

    Cuts fall on multiples of a fixed step so stacks sharing a base share flat dirs.
    With nesting one mount takes ``2 * max_lowers - 1`` lowers (one of them a nested
    overlay of up to *max_lowers*), without it *max_lowers*; the step is one less,
    leaving room for the flat dir itself.
    """
    capacity = 2 * max_lowers - 1 if nest else max_lowers
    if n <= capacity:
        return 0
    step = capacity - 1
    return -(-(n - capacity + 1) // step) * step


def nest_split(m: int, max_lowers: int) -> int:
    """How many bottom lowers of an m-lower list go into one nested overlay (0: mount directly)."""
    if m <= max_lowers:
        return 0
    if m > 2 * max_lowers - 1:
        raise InvalidArgument(f"mount layer stack: {m} lowers exceed {2 * max_lowers - 1} (max depth)")
    return m - (max_lowers - 1)


class OverlayDriver(RefcountedDriver):
    """Overlayfs layers; see the module docstring for layout, mount API and deep stacks."""

    name = "overlay"

    def __init__(self, home: Path, *, support: OverlaySupport | None = None, deep: str = "auto",
                 legacy_mount: bool = False) -> None:
        super().__init__(home)
        if deep not in ("auto", "flatten"):
            raise InvalidArgument(f"use deep={deep!r}: must be auto or flatten")
        self.support = support or probe_overlay(self.root)
        self.new_api = self.support.new_api and not legacy_mount
        self.max_lowers = MAX_LOWERS if self.new_api else LEGACY_MAX_LOWERS
        self.deep = deep
        for d in ("l", "empty", "n", "flat"):
            (self.root / d).mkdir(exist_ok=True)

    # ---------------------------------------------------------------- create / remove
    def _populate(self, layer_id: str, parent: str | None, staging: Path, *, writable: bool) -> None:
        for d in ("diff", "work", "merged"):
            (staging / d).mkdir()
        os.chmod(staging / "diff", 0o755)
        (staging / "link").write_text(new_short_id())
        if parent is not None:
            pdir = self._require(parent)
            chain = f"l/{(pdir / 'link').read_text()}"
            if (pdir / "lower").exists():
                chain += ":" + (pdir / "lower").read_text()
            (staging / "lower").write_text(chain)

    def _short(self, layer_id: str) -> str:
        return (self._require(layer_id) / "link").read_text().strip()

    def _created(self, layer_id: str, parent: str | None) -> None:
        link = self.root / "l" / self._short(layer_id)
        link.unlink(missing_ok=True)
        link.symlink_to(f"../{layer_id}/diff")

    def _removing(self, layer_id: str) -> None:
        short = self._short(layer_id)
        (self.root / "l" / short).unlink(missing_ok=True)
        rmtree(self.root / "flat" / short)

    # ---------------------------------------------------------------- chains
    def _parent_lowers(self, layer_id: str) -> list[Lower]:
        """The parent chain, topmost first, as ``l/<SHORT>`` paths (the kernel follows the links)."""
        lower_file = self._require(layer_id) / "lower"
        if not lower_file.exists():
            return []
        root = str(self.root)
        return [Lower(short=entry[2:], path=f"{root}/{entry}")
                for entry in lower_file.read_text().strip().split(":")]

    def _resolved_parents(self, layer_id: str) -> list[str]:
        """The parents' real ``<layer_id>/diff`` paths, topmost first (what docker shows as LowerDir)."""
        root = str(self.root)
        return [os.path.normpath(f"{root}/l/{os.readlink(lo.path)}") for lo in self._parent_lowers(layer_id)]

    def _mount_lowers(self, layer_id: str) -> list[Lower]:
        lowers = self._parent_lowers(layer_id)
        writable = self.writable(layer_id)
        if not writable:
            lowers.insert(0, Lower(short=self._short(layer_id), path=str(self._layer_dir(layer_id) / "diff")))
        if len(lowers) < (1 if writable else 2):
            lowers.append(Lower(short="", path=str(self.root / "empty")))
        return lowers

    # ---------------------------------------------------------------- mounting
    def _view(self, layer_id: str) -> Path:
        return self._layer_dir(layer_id) / "merged"

    def _is_active(self, layer_id: str) -> bool:
        return mnt.is_mountpoint(self._view(layer_id))

    def _deactivate(self, layer_id: str) -> None:
        target = self._view(layer_id)
        while mnt.is_mountpoint(target):   # a stacked double mount after a crash: peel all of it
            mnt.umount(target, mnt.MNT_DETACH)

    def _activate(self, layer_id: str) -> None:
        ldir = self._layer_dir(layer_id)
        lowers = self._mount_lowers(layer_id)
        upper = (str(ldir / "diff"), str(ldir / "work")) if self.writable(layer_id) else None
        if upper and self.support.volatile:
            _fresh_workdir(ldir / "work")
        target = str(self._view(layer_id))
        nest = self.deep == "auto"
        try:
            self._mount_stack(target, lowers, upper, nest=nest)
        except OSError as exc:
            if not nest or len(lowers) <= self.max_lowers:
                raise
            # e.g. <home> itself on overlayfs: a nested overlay would pass the kernel's stacking depth
            log.warning("nested overlay failed, flattening instead layer=%s error=%s", layer_id, exc)
            self.deep = "flatten"
            self._mount_stack(target, lowers, upper, nest=False)

    def _mount_stack(self, target: str, lowers: list[Lower], upper: tuple[str, str] | None, *,
                     nest: bool) -> None:
        """Mount *lowers* (top first) on *target*: bottom prefix flattened and/or nested as needed."""
        paths = self._cut_lowers(lowers, nest=nest)
        split = nest_split(len(paths), self.max_lowers) if nest else 0
        if split == 0:
            self._mount_overlay(target, paths, upper)
            return
        point = str(self.root / "n" / f"{lowers[0].short or 'x'}.{os.urandom(3).hex()}")
        os.mkdir(point)
        try:
            self._mount_overlay(point, paths[-split:], None)
            try:
                self._mount_overlay(target, [*paths[:-split], point], upper)
            finally:
                # the outer overlay holds a private clone of the nested mount: ours can go now
                mnt.umount(point, mnt.MNT_DETACH)
        finally:
            os.rmdir(point)

    def _cut_lowers(self, lowers: list[Lower], *, nest: bool) -> list[str]:
        """Top-first lower paths with the bottom replaced by a cached flat dir when too deep."""
        cut = stack_cut(len(lowers), self.max_lowers, nest=nest)
        if cut == 0:
            return [lo.path for lo in lowers]
        keep = len(lowers) - cut
        return [lo.path for lo in lowers[:keep]] + [self._flat_dir(lowers[keep:], nest=nest)]

    def _flat_dir(self, prefix: list[Lower], *, nest: bool) -> str:
        """The merged tree of *prefix* as a plain dir, built once and keyed by its top layer.

        The merged view of a whole prefix (down to the base) is exactly the tree the
        stack shows there, whiteouts and opaque dirs already applied, so a plain copy
        of it can stand in for all of those layers.
        """
        flat = self.root / "flat" / prefix[0].short
        with FileLock(self.root / "flat" / f".{flat.name}.lock"):
            if flat.is_dir():
                return str(flat)
            point = self.root / "n" / f"flat-{os.urandom(4).hex()}"
            staging = self.root / "flat" / f".tmp-{flat.name}-{os.urandom(4).hex()}"
            point.mkdir()
            staging.mkdir()
            try:
                self._mount_stack(str(point), prefix, None, nest=nest)
                try:
                    from lamina.driver.copy import copy_tree
                    copy_tree(point, staging)
                finally:
                    mnt.umount(point, mnt.MNT_DETACH)
                os.rename(staging, flat)
            finally:
                rmtree(staging)
                os.rmdir(point)
            log.info("flattened layers=%d top=%s into %s", len(prefix), prefix[0].short, flat)
        return str(flat)

    def _mount_overlay(self, target: str, lowers: Sequence[str], upper: tuple[str, str] | None) -> None:
        if self.new_api:
            opts: list[tuple[str, str | None]] = [*self.support.options]
            opts += [("lowerdir+", p) for p in lowers]
            if upper:
                opts += [("upperdir", upper[0]), ("workdir", upper[1])]
                if self.support.volatile:
                    opts.append(("volatile", None))
            mnt.fs_mount("overlay", target, opts, source="overlay", readonly=upper is None)
            return
        rel = [os.path.relpath(self._shorten(p), self.root) for p in lowers]
        data = [f"{k}={v}" if v else k for k, v in self.support.options]
        data.append("lowerdir=" + ":".join(rel))
        if upper:
            data += [f"upperdir={os.path.relpath(upper[0], self.root)}",
                     f"workdir={os.path.relpath(upper[1], self.root)}"]
        flags = 0 if upper else mnt.MS_RDONLY
        mnt.mount("overlay", target, "overlay", flags, ",".join(data), cwd=self.root)

    def _shorten(self, path: str) -> str:
        """A layer's diff path as its ``l/<SHORT>`` link (other paths are already short)."""
        p = Path(path)
        if p.name == "diff" and (p.parent / "link").exists():
            return str(self.root / "l" / (p.parent / "link").read_text().strip())
        return path

    # ---------------------------------------------------------------- content
    def apply_diff(self, layer_id: str, parent: str | None, tar_stream: BinaryIO) -> int:
        """Apply an uncompressed layer tar into ``diff/`` as overlay whiteouts; return its size."""
        from lamina.layer.apply import apply_layer
        from lamina.layer.whiteout import OverlayWhiteouts
        result = apply_layer(tar_stream, self._require(layer_id) / "diff", whiteouts=OverlayWhiteouts())
        return result.size

    def changes(self, layer_id: str, parent: str | None) -> list[Change]:
        """Native: read ``diff/`` against the recorded parents. Another parent: walk both mounts."""
        if parent != self.parent_of(layer_id):
            return self._naive_changes(layer_id, parent)
        upper = self._require(layer_id) / "diff"
        from lamina.layer.changes import overlay_changes
        return overlay_changes(upper, [Path(p) for p in self._resolved_parents(layer_id)])

    def _naive_changes(self, layer_id: str, parent: str | None) -> list[Change]:
        from lamina.layer.changes import changes_between
        new = self.mount(layer_id)
        try:
            if parent is None:
                return changes_between(None, new)
            old = self.mount(parent)
            try:
                return changes_between(old, new)
            finally:
                self.unmount(parent)
        finally:
            self.unmount(layer_id)

    def diff(self, layer_id: str, parent: str | None, out: BinaryIO, *, epoch: int | None = None) -> None:
        """Write the layer's changes as an uncompressed tar with OCI whiteouts (``out`` not closed)."""
        from lamina.layer.tarwriter import write_changes
        changes = self.changes(layer_id, parent)
        if parent == self.parent_of(layer_id):   # native: everything changed is in diff/
            upper = self._layer_dir(layer_id) / "diff"
            write_changes(upper, changes, out, epoch=epoch, upper=upper)
            return
        root = self.mount(layer_id)
        try:
            write_changes(root, changes, out, epoch=epoch)
        finally:
            self.unmount(layer_id)

    def diff_size(self, layer_id: str, parent: str | None) -> int:
        changes = self.changes(layer_id, parent)
        if parent == self.parent_of(layer_id):
            return changes_size(self._layer_dir(layer_id) / "diff", changes)
        root = self.mount(layer_id)
        try:
            return changes_size(root, changes)
        finally:
            self.unmount(layer_id)

    def metadata(self, layer_id: str) -> dict[str, str]:
        """docker's GraphDriver.Data: LowerDir (":"-joined, topmost first), UpperDir, WorkDir, MergedDir."""
        ldir = self._require(layer_id)
        data = {"UpperDir": str(ldir / "diff"), "WorkDir": str(ldir / "work"),
                "MergedDir": str(ldir / "merged")}
        lowers = self._resolved_parents(layer_id)
        if lowers:
            data["LowerDir"] = ":".join(lowers)
        return data

    def status(self) -> list[tuple[str, str]]:
        return [("Backing Filesystem", mnt.fstype_of(self.root) or "unknown"),
                ("Supports d_type", str(self.support.d_type).lower()),
                ("Native Overlay Diff", "true"),
                ("Using metacopy", "false"),
                ("userxattr", str(self.support.userxattr).lower()),
                ("Mount API", "fsconfig lowerdir+" if self.new_api else "mount(2) with l/ short links"),
                ("Max lowers per mount", str(self.max_lowers)),
                ("Deep stacks", "nested overlays" if self.deep != "flatten" else "flattened prefixes")]


def _fresh_workdir(work: Path) -> None:
    """Empty an rw layer's workdir before a ``volatile`` mount.

    Writable layers mount with overlay's ``volatile`` option: unmounting then does not sync the
    whole upper file system (measured here: 0.8 s per ``run --rm`` while other processes write,
    against microseconds). The kernel leaves ``work/work/incompat/volatile`` behind and refuses
    the next mount while it exists; the workdir holds only the kernel's scratch state, so it is
    recreated. Durability is not lost where it matters: commits and builds fsync the blobs they
    write from the upper dir, and a container's own writes were never synced by docker either.
    """
    if work.exists():
        rmtree(work)
    work.mkdir()
