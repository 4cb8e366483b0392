"""Image-to-image diff: the A/C/D changes that turn image A's file tree into image B's, with sizes.

Pure over layer tar streams (the engine hands in verified blobs); must not open stores or mount.
Docker has had no image diff since moby#12641; this is the container ``diff`` shape for images.

Each image's layers are replayed into a final view (``analyze.View``). Two entries are the same
file when both were written by the same layer of a shared chain prefix (same ChainID, so the same
bytes), or else when type, mode, owner, size, link target and content sha256 agree; mtimes are
ignored. Content is hashed only for layers past the shared prefix, so comparing an image with
its own child costs one pass over the child's new layers plus header reads of the rest.

Output follows ``docker diff``: a directory is ``C`` when its metadata or anything below it
changed; an added directory is listed with everything below it (``A``); a deleted directory
is one ``D``. Sizes are regular-file bytes: ``before`` in A's tree, ``after`` in B's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from lamina.image.analyze import Node, View, read_members


@dataclass(frozen=True, slots=True, kw_only=True)
class PathDiff:
    """One changed path between two images."""

    kind: str      # "A" | "C" | "D"
    path: str
    before: int    # bytes in image A (0 when added)
    after: int     # bytes in image B (0 when deleted)


def final_view(streams: Iterable[BinaryIO], *, hash_from: int = 0) -> Node:
    """The merged tree of the layer tars (bottom first); content hashed for layers >= *hash_from*."""
    view = View()
    for index, stream in enumerate(streams):
        view.apply(index, list(read_members(stream, hash_content=index >= hash_from)))
    return view.root


def compare(a: Node, b: Node, *, shared: int = 0) -> list[PathDiff]:
    """The changes from tree *a* to tree *b*; layers below *shared* are the same in both images."""
    out: list[PathDiff] = []
    _compare_dir(a, b, "", shared, out)
    return out


def _same(a: Node, b: Node, shared: int) -> bool:
    if a.layer == b.layer and 0 <= a.layer < shared:
        return True
    return a.meta == b.meta


def _compare_dir(a: Node, b: Node, path: str, shared: int, out: list[PathDiff]) -> bool:
    """Append the differences below one directory pair; True if anything below differs."""
    assert a.children is not None and b.children is not None
    changed = False
    for name in sorted(a.children.keys() | b.children.keys()):
        here = f"{path}/{name}"
        old, new = a.children.get(name), b.children.get(name)
        if new is None:
            assert old is not None
            out.append(PathDiff(kind="D", path=here, before=old.total(), after=0))
        elif old is None:
            out.extend(PathDiff(kind="A", path=p, before=0, after=n.total()) for p, n in new.walk(here))
        else:
            if not _compare_entry(old, new, here, shared, out):
                continue
        changed = True
    return changed


def _compare_entry(old: Node, new: Node, path: str, shared: int, out: list[PathDiff]) -> bool:
    if old.children is not None and new.children is not None:
        mark = len(out)
        below = _compare_dir(old, new, path, shared, out)
        if below or _dir_meta(old) != _dir_meta(new):
            out.insert(mark, PathDiff(kind="C", path=path, before=old.total(), after=new.total()))
            return True
        return False
    if old.children is None and new.children is None and _same(old, new, shared):
        return False
    out.append(PathDiff(kind="C", path=path, before=old.total(), after=new.total()))
    return True


def _dir_meta(node: Node) -> tuple[object, ...] | None:
    """A directory's mode and owner (an implied directory, never in a tar, has none)."""
    return node.meta[1:4] if node.meta else None
