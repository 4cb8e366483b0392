"""Mark-and-sweep garbage collection of a blob store (umoci ``casext/gc.go``).

Must not decide what the roots are (the image store / layout refs do) and must not touch
staging dirs whose owner is alive.

Everything reachable from the roots (walking indexes and manifests) survives; every other
blob is deleted. GC holds the store lock exclusively for mark + sweep, and blob commits take
it shared, so a blob is never renamed into place mid-sweep. A blob committed *before* GC
started but not yet referenced by a root is garbage: callers that put-then-reference must
hold their own store lock across both steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from lamina._internal.logs import get_logger
from lamina.digest import Digest
from lamina.errors import BlobNotFound
from lamina.store.protocol import BlobStoreProtocol
from lamina.store.walk import descriptor_digest, sniff_descriptor, walk

log = get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class GCResult:
    """What a GC removed (or would remove, on a dry run) and how many bytes that frees."""

    removed: list[Digest] = field(default_factory=list)
    freed: int = 0


def gc(blobs: BlobStoreProtocol, roots: Iterable[Digest], *, walk_roots: bool = True,
       dry_run: bool = False) -> GCResult:
    """Delete every blob not reachable from *roots*; with ``dry_run`` only report.

    With ``walk_roots=False`` only the roots themselves are kept. Missing roots are skipped
    with a warning. Stale staging dirs (dead owners) are removed too, unless ``dry_run``.
    Raises LockTimeout if the store lock cannot be taken.
    """
    with blobs.lock(exclusive=True):
        live = mark(blobs, roots, walk_roots=walk_roots)
        result = sweep(blobs, live, dry_run=dry_run)
        if not dry_run:
            blobs.clean()
    log.info("gc removed=%d freed=%d dry_run=%s", len(result.removed), result.freed, dry_run)
    return result


def mark(blobs: BlobStoreProtocol, roots: Iterable[Digest], *, walk_roots: bool = True) -> set[Digest]:
    """The set of digests reachable from *roots* (roots included). Caller holds the lock."""
    live: set[Digest] = set()
    for root in roots:
        live.add(root)
        if not walk_roots:
            continue
        try:
            descriptor = sniff_descriptor(blobs, root)
        except BlobNotFound:
            log.warning("gc root missing from store digest=%s", root)
            continue
        live.update(descriptor_digest(d) for d in walk(blobs, descriptor, on_missing=_ignore))
    return live


def sweep(blobs: BlobStoreProtocol, live: set[Digest], *, dry_run: bool = False) -> GCResult:
    """Delete (or list, on a dry run) every stored blob not in *live*. Caller holds the lock."""
    removed: list[Digest] = []
    freed = 0
    for digest in sorted(blobs.list(), key=str):
        if digest in live:
            continue
        try:
            size = blobs.stat(digest)
        except BlobNotFound:
            continue
        if dry_run or blobs.delete(digest):
            removed.append(digest)
            freed += size
    return GCResult(removed=removed, freed=freed)


def _ignore(descriptor: dict[str, object]) -> None:
    """Missing blobs are not GC's problem: there is nothing to delete."""
