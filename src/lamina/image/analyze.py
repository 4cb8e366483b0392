"""Waste analysis and provenance over an image's layer tars: dive built in, each wasted byte counted once.

Pure: it reads the uncompressed layer tar streams it is handed (headers only, plus content
hashes when asked) and returns values. Must not open stores, drivers or mounts; the engine
hands verified blob streams in (``lamina.engine.system``).

Model. Layers are replayed bottom first onto a path tree, the image's view. Within one layer
the opaque markers (``DIR/.wh..wh..opq``) apply first, then the whiteouts (``.wh.NAME``), both
against the lower layers only, then the layer's own entries (image-spec ``layer.md``). An entry
is ``A`` when its path is not in the view below, ``C`` when it replaces something there; a
whiteout or an opaque marker is ``D`` for each lower path it removes (a whiteout naming a path
the lower layers do not have is ignored, as docker ignores it).

Waste. Bytes are regular-file bytes from the tar headers; a hard link adds 0 bytes (it shares
its target's data). Whenever an entry leaves the view — replaced (``overwritten``), deleted by
a whiteout or an opaque directory (``deleted``), or a non-directory replaced by a directory —
its bytes are wasted exactly once and attributed to the pair (layer that wrote it, layer that
hid it). A path written N times therefore wastes N-1 copies; dive counts all N (dive#684).

    stored     = Σ file bytes in all layers            visible = stored - wasted
    efficiency = visible / stored  (1.0 for an empty image)
    user_wasted_percent = wasted / file bytes of the user layers (all but the first, as dive)

Known approximation: a file deleted while a hard link to it stays visible is counted wasted.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from lamina.layer.pathsafety import normalize
from lamina.layer.whiteout import classify

_KINDS = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.CONTTYPE: "file", tarfile.DIRTYPE: "dir",
          tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char",
          tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}


# ---------------------------------------------------------------- tar members
@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """One layer tar entry as the replay needs it; ``op`` is "entry", "whiteout" or "opaque"."""

    op: str
    path: str
    kind: str = "file"
    size: int = 0
    mode: int = 0
    uid: int = 0
    gid: int = 0
    link: str = ""
    digest: str = ""

    @property
    def meta(self) -> tuple[str, int, int, int, int, str, str]:
        """What decides whether two entries are the same file (mtime deliberately not)."""
        return (self.kind, self.mode, self.uid, self.gid, self.size, self.link, self.digest)


def read_members(stream: BinaryIO, *, hash_content: bool = False) -> Iterator[Member]:
    """The entries of one uncompressed layer tar, in tar order; reads *stream* sequentially.

    With *hash_content* each regular file's ``digest`` is its sha256. Raises InvalidLayer for
    names that escape the root and ``tarfile.TarError`` for a malformed tar.
    """
    with tarfile.open(fileobj=stream, mode="r|") as tf:
        for info in tf:
            path = normalize(info.name, entry=info.name)
            if not path:
                continue
            parent, _, base = path.rpartition("/")
            op, victim = classify(base, info.name)
            if op == "meta":
                continue
            if op == "opaque":
                yield Member(op="opaque", path=parent)
            elif op == "whiteout":
                yield Member(op="whiteout", path=f"{parent}/{victim}" if parent else victim)
            else:
                yield _entry(tf, info, path, hash_content)


def _entry(tf: tarfile.TarFile, info: tarfile.TarInfo, path: str, hash_content: bool) -> Member:
    kind = _KINDS.get(info.type, "file")
    digest = ""
    if kind == "file" and hash_content:
        digest = _hash_member(tf, info)
    link = normalize(info.linkname) if kind == "hardlink" else info.linkname
    return Member(op="entry", path=path, kind=kind, size=info.size if kind == "file" else 0,
                  mode=info.mode & 0o7777, uid=info.uid, gid=info.gid, link=link, digest=digest)


def _hash_member(tf: tarfile.TarFile, info: tarfile.TarInfo) -> str:
    h = hashlib.sha256()
    data = tf.extractfile(info)
    if data is not None:
        while chunk := data.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- the view
class Node:
    """One path in the replayed view: who wrote it, its bytes, its metadata, its children if a dir."""

    __slots__ = ("children", "layer", "meta", "size")

    def __init__(self, layer: int, size: int = 0, meta: tuple[object, ...] | None = None, *,
                 is_dir: bool = False) -> None:
        self.layer = layer
        self.size = size
        self.meta = meta
        self.children: dict[str, Node] | None = {} if is_dir else None

    @property
    def is_dir(self) -> bool:
        return self.children is not None

    def walk(self, path: str) -> Iterator[tuple[str, Node]]:
        """(path, node) for this node and everything below it, parents first."""
        stack = [(path, self)]
        while stack:
            here, node = stack.pop()
            yield here, node
            if node.children:
                stack.extend((f"{here}/{name}", child) for name, child in sorted(node.children.items(),
                                                                                 reverse=True))

    def total(self) -> int:
        return sum(node.size for _, node in self.walk(""))


@dataclass(frozen=True, slots=True, kw_only=True)
class FileChange:
    """One change a layer made: ``A``/``C`` with the new entry's bytes, ``D`` with the bytes it hid."""

    kind: str
    path: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Waste:
    """Bytes of one file copy that no longer show: written by layer *writer*, hidden by layer *hider*."""

    path: str
    size: int
    writer: int
    hider: int
    how: str  # "overwritten" | "deleted"


class View:
    """The image's file tree as layers are replayed onto it; collects changes and waste."""

    def __init__(self) -> None:
        self.root = Node(-1, is_dir=True)
        self.wastes: list[Waste] = []

    def apply(self, index: int, members: Iterable[Member]) -> list[FileChange]:
        """Replay one layer (opaque markers, then whiteouts, then entries); return its changes."""
        ordered: dict[str, list[Member]] = {"opaque": [], "whiteout": [], "entry": []}
        for member in members:
            ordered[member.op].append(member)
        changes: list[FileChange] = []
        for member in ordered["opaque"]:
            self._opaque(index, member.path, changes)
        for member in ordered["whiteout"]:
            self._delete(index, member.path, changes)
        for member in ordered["entry"]:
            self._add(index, member, changes)
        return changes

    def find(self, path: str) -> Node | None:
        node: Node | None = self.root
        for comp in _parts(path):
            if node is None or node.children is None:
                return None
            node = node.children.get(comp)
        return node

    def _hide(self, node: Node, path: str, hider: int, how: str) -> int:
        total = 0
        for here, item in node.walk(path):
            if item.size:
                self.wastes.append(Waste(path=here, size=item.size, writer=item.layer, hider=hider, how=how))
                total += item.size
        return total

    def _opaque(self, index: int, path: str, changes: list[FileChange]) -> None:
        node = self.find(path)
        if node is None or node.children is None:
            return
        for name in sorted(node.children):
            child_path = f"/{path}/{name}" if path else f"/{name}"
            hidden = self._hide(node.children.pop(name), child_path, index, "deleted")
            changes.append(FileChange(kind="D", path=child_path, size=hidden))

    def _delete(self, index: int, path: str, changes: list[FileChange]) -> None:
        parent, _, name = path.rpartition("/")
        holder = self.find(parent)
        if holder is None or holder.children is None or name not in holder.children:
            return
        hidden = self._hide(holder.children.pop(name), f"/{path}", index, "deleted")
        changes.append(FileChange(kind="D", path=f"/{path}", size=hidden))

    def _parent_dir(self, index: int, parts: list[str], changes: list[FileChange]) -> Node:
        """The directory holding a new entry, creating implied parents (a file in the way is replaced)."""
        node = self.root
        for depth, comp in enumerate(parts):
            assert node.children is not None
            child = node.children.get(comp)
            if child is None or child.children is None:
                if child is not None:
                    path = "/" + "/".join(parts[: depth + 1])
                    self._hide(child, path, index, "overwritten")
                    changes.append(FileChange(kind="C", path=path, size=0))
                child = Node(index, is_dir=True)
                node.children[comp] = child
            node = child
        return node

    def _add(self, index: int, member: Member, changes: list[FileChange]) -> None:
        parts = _parts(member.path)
        parent = self._parent_dir(index, parts[:-1], changes)
        assert parent.children is not None
        name, path = parts[-1], "/" + member.path
        old = parent.children.get(name)
        if member.kind == "dir" and old is not None and old.children is not None:
            old.meta, old.layer = member.meta, index   # a directory over a directory merges
            return
        if old is not None:
            self._hide(old, path, index, "overwritten")
        parent.children[name] = Node(index, member.size, member.meta, is_dir=member.kind == "dir")
        changes.append(FileChange(kind="C" if old is not None else "A", path=path, size=member.size))


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


# ---------------------------------------------------------------- the analysis
@dataclass(frozen=True, slots=True, kw_only=True)
class LayerInfo:
    """What the analysis knows about a layer besides its tar: identity and the history entry."""

    diff_id: str
    created_by: str = ""
    comment: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerReport:
    """One layer: its changes, its file bytes, the bytes it wrote that later layers hid, the bytes it hid."""

    index: int
    info: LayerInfo
    size: int
    changes: tuple[FileChange, ...]
    wasted_written: int
    wasted_hidden: int

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class PathWaste:
    """Waste grouped by path, dive's "Count / Total Space / Path" row."""

    path: str
    count: int
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis:
    """The result of ``analyze``: per-layer reports, every wasted copy, and the image totals."""

    layers: tuple[LayerReport, ...]
    wastes: tuple[Waste, ...]
    stored_bytes: int
    wasted_bytes: int
    user_bytes: int
    pairs: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def visible_bytes(self) -> int:
        return self.stored_bytes - self.wasted_bytes

    @property
    def efficiency(self) -> float:
        return 1.0 if self.stored_bytes == 0 else self.visible_bytes / self.stored_bytes

    @property
    def user_wasted_percent(self) -> float:
        return 0.0 if self.user_bytes == 0 else self.wasted_bytes / self.user_bytes

    def by_path(self) -> list[PathWaste]:
        """Wasted copies grouped by path, largest first."""
        grouped: dict[str, list[int]] = {}
        for waste in self.wastes:
            grouped.setdefault(waste.path, []).append(waste.size)
        rows = [PathWaste(path=p, count=len(s), size=sum(s)) for p, s in grouped.items()]
        return sorted(rows, key=lambda r: (-r.size, r.path))


def analyze(layers: Iterable[tuple[LayerInfo, BinaryIO]]) -> Analysis:
    """Replay the layers (bottom first; each stream is read to the end of its tar) and account waste."""
    view = View()
    reports: list[tuple[int, LayerInfo, int, list[FileChange]]] = []
    for index, (info, stream) in enumerate(layers):
        members = list(read_members(stream))
        size = sum(m.size for m in members if m.op == "entry")
        reports.append((index, info, size, view.apply(index, members)))
    written: dict[int, int] = {}
    hidden: dict[int, int] = {}
    pairs: dict[tuple[int, int], int] = {}
    for waste in view.wastes:
        written[waste.writer] = written.get(waste.writer, 0) + waste.size
        hidden[waste.hider] = hidden.get(waste.hider, 0) + waste.size
        pairs[(waste.writer, waste.hider)] = pairs.get((waste.writer, waste.hider), 0) + waste.size
    out = tuple(LayerReport(index=i, info=info, size=size, changes=tuple(changes),
                            wasted_written=written.get(i, 0), wasted_hidden=hidden.get(i, 0))
                for i, info, size, changes in reports)
    stored = sum(r.size for r in out)
    return Analysis(layers=out, wastes=tuple(view.wastes), stored_bytes=stored,
                    wasted_bytes=sum(w.size for w in view.wastes),
                    user_bytes=sum(r.size for r in out[1:]), pairs=pairs)


# ---------------------------------------------------------------- provenance
@dataclass(frozen=True, slots=True, kw_only=True)
class PathEvent:
    """One layer touching a path: wrote it (``A``/``C``) or removed it (``D``, also via a parent)."""

    layer: int
    kind: str
    size: int
    via: str = ""   # the removed or replaced ancestor, when it was not the path itself


@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """Where a path came from: every event, the layer that last wrote it, and whether it is visible."""

    path: str
    events: tuple[PathEvent, ...]
    present: bool

    @property
    def last_writer(self) -> PathEvent | None:
        writes = [e for e in self.events if e.kind in ("A", "C")]
        return writes[-1] if writes else None

    @property
    def earlier_writers(self) -> tuple[PathEvent, ...]:
        writes = [e for e in self.events if e.kind in ("A", "C")]
        return tuple(writes[:-1])


def provenance(analysis: Analysis, path: str) -> Provenance:
    """The history of *path* (``/etc/passwd``) through the analysed layers."""
    target = "/" + normalize(path)
    events: list[PathEvent] = []
    present = False
    for report in analysis.layers:
        for change in report.changes:
            event = _event_for(report.index, change, target, present)
            if event is not None:
                events.append(event)
                present = event.kind != "D"
    return Provenance(path=target, events=tuple(events), present=present)


def _event_for(index: int, change: FileChange, target: str, present: bool) -> PathEvent | None:
    if change.path == target:
        return PathEvent(layer=index, kind=change.kind, size=change.size)
    if present and target.startswith(change.path + "/") and change.kind in ("C", "D"):
        return PathEvent(layer=index, kind="D", size=0, via=change.path)
    return None


# ---------------------------------------------------------------- CI thresholds
@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """dive's CI rules; None disables a rule. Percentages are ratios (0.1 = 10%)."""

    lowest_efficiency: float | None = 0.9
    highest_wasted_bytes: int | None = None
    highest_user_wasted_percent: float | None = 0.1


def breaches(analysis: Analysis, rules: Thresholds) -> list[str]:
    """One line per failed rule (empty: the image passes)."""
    out: list[str] = []
    if rules.lowest_efficiency is not None and analysis.efficiency < rules.lowest_efficiency:
        out.append(f"lowestEfficiency: image efficiency {analysis.efficiency:.4f} "
                   f"is below {rules.lowest_efficiency}")
    if rules.highest_wasted_bytes is not None and analysis.wasted_bytes > rules.highest_wasted_bytes:
        out.append(f"highestWastedBytes: {analysis.wasted_bytes} wasted bytes "
                   f"exceed {rules.highest_wasted_bytes}")
    limit = rules.highest_user_wasted_percent
    if limit is not None and analysis.user_wasted_percent > limit:
        out.append(f"highestUserWastedPercent: {analysis.user_wasted_percent:.4f} of user bytes wasted "
                   f"exceeds {limit}")
    return out


def layer_infos(history: Sequence[dict[str, object]], diff_ids: Sequence[str]) -> list[LayerInfo]:
    """Pair each diff_id with its non-empty history entry (BuildKit's rule; missing entries are blank)."""
    entries = [h for h in history if not h.get("empty_layer")]
    out = []
    for i, diff_id in enumerate(diff_ids):
        entry = entries[i] if i < len(entries) else {}
        out.append(LayerInfo(diff_id=diff_id, created_by=str(entry.get("created_by", "")),
                             comment=str(entry.get("comment", ""))))
    return out
