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

Deep stacks. The kernel caps one overlay at 500 lowers (OVL_MAX_STACK). Past that the
bottom of the chain is split into groups of up to 500 (99 without the new API), each
mounted read-only as an overlay of its own, and those mounts become lowers of the
real mount. Right after the outer mount succeeds the inner ones are detached
(``umount2(MNT_DETACH)``): overlayfs holds private clones of its layers, so they live
exactly as long as the outer mount and nothing is left to clean up. Nesting is one
level deep (the kernel's stacking limit is 2), so 500 x 500 = 250,000 layers.

The alternative, flattening a prefix of the chain into a cached directory keyed by
its top layer, copies every byte below the cut once and then mounts like a shallow
stack. Measured on this machine (bench/depth_bench.py, kernel 6.18, ext4, 1 small file
per layer, new mount API):

    layers          125      500      1000     2000
    nested mount    2.7 ms   8.8 ms   16 ms    32 ms       (all lowers stat'ed by the kernel)
    flatten, cold   -        -        0.53 s   1.3 s       (cp -a of the merged prefix)
    flatten, warm   -        -        9.4 ms   9.4 ms      (one flat dir + <=499 lowers)

Nesting is picked: it costs no disk, no copy time, and stays correct when a lower
layer is rewritten, while a flat cache duplicates the whole prefix and must be
invalidated. Flattening is kept as the fallback used automatically when the nested
mount fails (e.g. ``<home>`` already on overlayfs, so nesting would exceed the
kernel's stacking depth), or on request with ``deep="flatten"``.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lamina._internal import mount as mnt
from lamina._internal.fsops import rmtree
from lamina._internal.locking import FileLock
from lamina.driver.base import RefcountedDriver, changes_size
from lamina.driver.copy import copy_tree
from lamina.driver.probe import OverlaySupport, probe_overlay
from lamina.errors import InvalidArgument
from lamina.layer.apply import apply_layer
from lamina.layer.changes import Change, changes_between, overlay_changes
from lamina.layer.tarwriter import write_changes
from lamina.layer.whiteout import OverlayWhiteouts

log = logging.getLogger(__name__)

MAX_LOWERS = 500          # OVL_MAX_STACK in fs/overlayfs
LEGACY_MAX_LOWERS = 99    # (4096 - 512 reserved - 2 x 134 upper/work - 30) // 33 bytes per "n/<SHORT>.kkk:"
SHORT_LEN = 26


def new_short_id() -> str:
    """26 upper-case base32 characters, like docker's overlay2 ``l/`` names."""
    return base64.b32encode(secrets.token_bytes(16)).decode()[:SHORT_LEN]


@dataclass(frozen=True, slots=True, kw_only=True)
class Lower:
    """One lower of a mount: the short id of its layer ("" for the empty dir) and its path."""

    short: str
    path: str


def plan_nesting(lowers: Sequence[str], max_lowers: int) -> list[str | list[str]]:
    """Group a top-first lower list so the result has at most *max_lowers* entries.

    Entries are paths (used directly) or lists of paths (one nested overlay each). The
    bottom of the chain is cut into full groups; the top stays direct, so the
    layers that change most often are never inside a nested mount.
    """
    n = len(lowers)
    if n <= max_lowers:
        return list(lowers)
    if n > max_lowers * max_lowers:
        raise InvalidArgument(f"mount layer stack: {n} layers exceed {max_lowers * max_lowers} (max depth)")
    groups = next(k for k in range(1, max_lowers + 1) if max(0, n - k * max_lowers) + k <= max_lowers)
    direct = max(0, n - groups * max_lowers)
    plan: list[str | list[str]] = list(lowers[:direct])
    bounds = [max(direct, n - (k + 1) * max_lowers) for k in reversed(range(groups))]
    for start, end in zip(bounds, [*bounds[1:], n], strict=True):
        group = list(lowers[start:end])
        plan.append(group if len(group) > 1 else group[0])   # one lower needs no nested mount
    return plan


def flatten_cut(n: int, max_lowers: int) -> int:
    """How many bottom layers of an n-layer stack to replace by one flat dir (0: none needed)."""
    if n <= max_lowers:
        return 0
    step = max_lowers - 1
    return ((n - 1) // step) * step


class OverlayDriver(RefcountedDriver):
    """Overlayfs layers; see the module docstring for layout, mount API and deep stacks."""

    name = "overlay"

    def __init__(self, home: Path, *, support: OverlaySupport | None = None, deep: str = "auto",
                 legacy_mount: bool = False) -> None:
        super().__init__(home)
        if deep not in ("auto", "nest", "flatten"):
            raise InvalidArgument(f"use deep={deep!r}: must be auto, nest or flatten")
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
        target = str(self._view(layer_id))
        if self.deep == "flatten" or (self.deep == "auto" and len(lowers) > self.max_lowers ** 2):
            self._mount_overlay(target, self._flat_lowers(lowers), upper)
            return
        try:
            self._mount_nested(target, [lo.path for lo in lowers], upper, self._short(layer_id))
        except OSError as exc:
            if self.deep != "auto" or len(lowers) <= self.max_lowers:
                raise
            log.warning("nested overlay failed, flattening layer=%s error=%s", layer_id, exc)
            self.deep = "flatten"
            self._mount_overlay(target, self._flat_lowers(lowers), upper)

    def _mount_nested(self, target: str, lowers: list[str], upper: tuple[str, str] | None, tag: str) -> None:
        """Mount *lowers* on *target*, nesting bottom groups as read-only overlays when too many."""
        inner: list[str] = []
        direct: list[str] = []
        try:
            for k, item in enumerate(plan_nesting(lowers, self.max_lowers)):
                if isinstance(item, str):
                    direct.append(item)
                    continue
                point = str(self.root / "n" / f"{tag}.{k}")
                os.makedirs(point, exist_ok=True)
                self._mount_overlay(point, item, None)
                inner.append(point)
                direct.append(point)
            self._mount_overlay(target, direct, upper)
        finally:
            for point in inner:   # the outer mount holds private clones: detach ours now
                mnt.umount(point, mnt.MNT_DETACH)
                os.rmdir(point)

    def _mount_overlay(self, target: str, lowers: Sequence[str], upper: tuple[str, str] | None) -> None:
        if self.new_api:
            opts: list[tuple[str, str | None]] = [*self.support.options]
            opts += [("lowerdir+", p) for p in lowers]
            if upper:
                opts += [("upperdir", upper[0]), ("workdir", upper[1])]
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

    # ---------------------------------------------------------------- flatten fallback
    def _flat_lowers(self, lowers: list[Lower]) -> list[str]:
        """Top-first lower paths with the bottom replaced by a cached flat dir when too deep."""
        cut = flatten_cut(len(lowers), self.max_lowers)
        if cut == 0:
            return [lo.path for lo in lowers]
        keep = len(lowers) - cut
        return [lo.path for lo in lowers[:keep]] + [self._flat_dir(lowers[keep:])]

    def _flat_dir(self, prefix: list[Lower]) -> str:
        """The merged tree of *prefix* as a plain dir, built once and keyed by its top layer."""
        top = prefix[0].short
        flat = self.root / "flat" / top
        with FileLock(self.root / "flat" / f".{flat.name}.lock"):
            if flat.is_dir():
                return str(flat)
            lowers = self._flat_lowers(prefix)
            if len(lowers) < 2:
                lowers.append(str(self.root / "empty"))
            point = self.root / "n" / f"flat-{uuid.uuid4().hex[:8]}"
            staging = self.root / "flat" / f".tmp-{flat.name}-{uuid.uuid4().hex[:8]}"
            point.mkdir()
            staging.mkdir()
            try:
                self._mount_overlay(str(point), lowers, None)
                try:
                    copy_tree(point, staging)
                finally:
                    mnt.umount(point, mnt.MNT_DETACH)
                os.rename(staging, flat)
            finally:
                rmtree(staging)
                os.rmdir(point)
            log.info("flattened layers=%d top=%s into %s", len(prefix), top, flat)
        return str(flat)

    # ---------------------------------------------------------------- content
    def apply_diff(self, layer_id: str, parent: str | None, tar_stream: BinaryIO) -> int:
        """Apply an uncompressed layer tar into ``diff/`` as overlay whiteouts; return its size."""
        result = apply_layer(tar_stream, self._require(layer_id) / "diff", whiteouts=OverlayWhiteouts())
        return result.size

    def changes(self, layer_id: str, parent: str | None) -> list[Change]:
        """Native: read ``diff/`` against the recorded parents. Another parent: walk both mounts."""
        if parent != self.parent_of(layer_id):
            return self._naive_changes(layer_id, parent)
        upper = self._require(layer_id) / "diff"
        return overlay_changes(upper, [Path(p) for p in self._resolved_parents(layer_id)])

    def _naive_changes(self, layer_id: str, parent: str | None) -> list[Change]:
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
