"""Volumes: named and anonymous host directories that outlive containers, and the -v/--mount grammar.

Must not know about container records or the runtime: callers pass the names of the
containers that use a volume. Layout under ``<root>/volumes/``::

    <name>/_data        the volume's content (the Mountpoint)
    <name>/meta.json    {"CreatedAt", "Labels", "Anonymous"}

Anonymous volumes get a 64-hex name and docker's ``com.docker.volume.anonymous`` label;
``rm -v`` / ``--rm`` remove them with their container, ``volume prune`` removes unused
anonymous volumes (all unused ones with ``--all``), as docker does since API 1.42.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lamina._internal.fsops import atomic_write, move_to_trash, rmtree
from lamina.errors import InvalidOption, VolumeInUse, VolumeNotFound

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
_VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_BIND_OPTIONS = {"ro", "rw", "z", "Z", "nocopy", "private", "rprivate", "shared", "rshared", "slave",
                 "rslave", "consistent", "cached", "delegated"}
Kind = Literal["bind", "volume", "tmpfs"]


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeRequest:
    """One parsed ``-v`` / ``--mount``: a bind (``source`` a host path), a volume (``source`` a
    name, "" for anonymous) or a tmpfs."""

    kind: Kind
    destination: str
    source: str = ""
    read_only: bool = False
    nocopy: bool = False
    create_host_dir: bool = False     # -v creates a missing bind source; --mount refuses
    options: tuple[str, ...] = ()
    shared: bool = False              # --volumes-from: another container's volume (it exists; not ours to remove)


@dataclass(frozen=True, slots=True, kw_only=True)
class Volume:
    name: str
    mountpoint: Path
    created_at: str
    labels: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False

    def to_inspect(self) -> dict[str, Any]:
        return {"CreatedAt": self.created_at, "Driver": "local", "Labels": self.labels or None,
                "Mountpoint": str(self.mountpoint), "Name": self.name, "Options": None, "Scope": "local"}


# ---------------------------------------------------------------- parsing
def _bad(spec: str, detail: str) -> InvalidOption:
    return InvalidOption(f"invalid volume specification: '{spec}': {detail}", spec=spec)


def _check_destination(spec: str, dest: str) -> str:
    if not dest.startswith("/"):
        raise _bad(spec, f"invalid mount config: destination {dest!r} is not an absolute path")
    if os.path.normpath(dest) == "/":
        raise _bad(spec, "invalid mount config: destination can't be '/'")
    return os.path.normpath(dest)


def parse_volume(spec: str) -> VolumeRequest:
    """``-v [SOURCE:]DEST[:OPTIONS]``: SOURCE an absolute host path (bind) or a volume name."""
    parts = spec.split(":")
    if not spec or len(parts) > 3 or any(p == "" for p in parts):
        raise _bad(spec, "too many colons" if len(parts) > 3 else "empty section")
    options: list[str] = []
    if len(parts) == 3 or (len(parts) == 2 and not parts[1].startswith("/")):
        options = parts.pop().split(",")
    bad = [o for o in options if o not in _BIND_OPTIONS]
    if bad:
        raise _bad(spec, f"invalid mode: {','.join(bad)}")
    read_only, nocopy = "ro" in options, "nocopy" in options
    extra = tuple(o for o in options if o in ("private", "rprivate", "shared", "rshared", "slave", "rslave"))
    if len(parts) == 1:
        return VolumeRequest(kind="volume", destination=_check_destination(spec, parts[0]),
                             read_only=read_only, nocopy=nocopy)
    source, dest = parts
    dest = _check_destination(spec, dest)
    if source.startswith("/"):
        return VolumeRequest(kind="bind", source=os.path.normpath(source), destination=dest,
                             read_only=read_only, create_host_dir=True, options=extra)
    if not _VOLUME_NAME.fullmatch(source):
        raise _bad(spec, f'"{source}" includes invalid characters for a local volume name, only '
                         "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed. If you intended to pass a host "
                         "directory, use absolute path")
    return VolumeRequest(kind="volume", source=source, destination=dest, read_only=read_only, nocopy=nocopy)


def _flag(value: str, spec: str) -> bool:
    if value.lower() in ("", "1", "true"):
        return True
    if value.lower() in ("0", "false"):
        return False
    raise InvalidOption(f'invalid argument "{spec}" for "--mount" flag: invalid boolean {value!r}', spec=spec)


def parse_mount(spec: str) -> VolumeRequest:
    """``--mount type=bind|volume|tmpfs,source=…,target=…,readonly[,volume-nocopy][,tmpfs-size=…]``."""
    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not key:
            raise InvalidOption(f'invalid argument "{spec}" for "--mount" flag: empty field', spec=spec)
        fields[{"src": "source", "dst": "target", "destination": "target", "ro": "readonly"}.get(key, key)] = \
            value if eq else ""
    kind = fields.pop("type", "volume")
    if kind not in ("bind", "volume", "tmpfs"):
        raise InvalidOption(f'invalid argument "{spec}" for "--mount" flag: mount type {kind!r} '
                            "is not supported", spec=spec)
    target = fields.pop("target", "")
    if not target:
        raise InvalidOption(f'invalid argument "{spec}" for "--mount" flag: target is required', spec=spec)
    read_only = _flag(fields.pop("readonly"), spec) if "readonly" in fields else False
    nocopy = _flag(fields.pop("volume-nocopy"), spec) if "volume-nocopy" in fields else False
    source = fields.pop("source", "")
    options = _tmpfs_options(fields, spec) if kind == "tmpfs" else ()
    fields.pop("bind-propagation", None)
    if fields:
        raise InvalidOption(f'invalid argument "{spec}" for "--mount" flag: unexpected key '
                            f"'{sorted(fields)[0]}'", spec=spec)
    if kind == "bind" and not source.startswith("/"):
        raise InvalidOption(f'invalid argument "{spec}" for "--mount" flag: bind source must be an '
                            "absolute path", spec=spec)
    return VolumeRequest(kind=kind, source=os.path.normpath(source) if kind == "bind" else source,  # type: ignore[arg-type]
                         destination=_check_destination(spec, target), read_only=read_only,
                         nocopy=nocopy, options=options)


def _tmpfs_options(fields: dict[str, str], spec: str) -> tuple[str, ...]:
    out = []
    if "tmpfs-size" in fields:
        out.append(f"size={fields.pop('tmpfs-size')}")
    if "tmpfs-mode" in fields:
        out.append(f"mode={fields.pop('tmpfs-mode')}")
    return tuple(out)


# ---------------------------------------------------------------- the store
def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class VolumeStore:
    """Local volumes under ``<root>`` (the ``volumes`` directory)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, name: str) -> Path:
        if not _VOLUME_NAME.fullmatch(name):
            raise InvalidOption(f'create {name}: "{name}" includes invalid characters for a local volume '
                                "name, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name=name)
        return self.root / name

    def create(self, name: str | None = None, *, labels: dict[str, str] | None = None) -> Volume:
        """Create a volume (a random 64-hex anonymous one when *name* is None). Idempotent for names."""
        anonymous = name is None
        name = name or os.urandom(32).hex()
        path = self._dir(name)
        if (path / "meta.json").exists():
            return self.get(name)
        labels = dict(labels or {})
        if anonymous:
            labels[ANONYMOUS_LABEL] = ""
        (path / "_data").mkdir(parents=True, exist_ok=True)
        os.chmod(path / "_data", 0o755)
        meta = {"CreatedAt": _now(), "Labels": labels, "Anonymous": anonymous}
        atomic_write(path / "meta.json", json.dumps(meta).encode())
        from lamina._internal.events import emit
        emit(self.root.parent, "volume", "create", name, {"driver": "local"})
        return self.get(name)

    def get(self, name: str) -> Volume:
        path = self._dir(name)
        try:
            meta = json.loads((path / "meta.json").read_text())
        except FileNotFoundError:
            raise VolumeNotFound(name) from None
        return Volume(name=name, mountpoint=path / "_data", created_at=meta.get("CreatedAt", ""),
                      labels=dict(meta.get("Labels") or {}), anonymous=bool(meta.get("Anonymous")))

    def exists(self, name: str) -> bool:
        return (self._dir(name) / "meta.json").exists()

    def list(self) -> list[Volume]:
        if not self.root.is_dir():
            return []
        return [self.get(p.name) for p in sorted(self.root.iterdir())
                if _VOLUME_NAME.fullmatch(p.name) and (p / "meta.json").exists()]

    def remove(self, name: str, *, users: Sequence[str] = (), force: bool = False) -> None:
        """Delete a volume; ``VolumeInUse`` when *users* (container names) hold it, ``VolumeNotFound``."""
        path = self._dir(name)
        if not (path / "meta.json").exists():
            if force:
                return
            raise VolumeNotFound(name)
        if users:
            raise VolumeInUse(name, "[" + ", ".join(users) + "]")
        rmtree(move_to_trash(path, self.root / ".trash"))
        from lamina._internal.events import emit
        emit(self.root.parent, "volume", "destroy", name, {"driver": "local"})

    def prune(self, in_use: Iterable[str], *, all_volumes: bool = False) -> builtins.list[tuple[str, int]]:
        """Remove unused (anonymous unless *all_volumes*) volumes; returns (name, bytes freed)."""
        used = set(in_use)
        removed = []
        for volume in self.list():
            if volume.name in used or not (volume.anonymous or all_volumes):
                continue
            size = tree_size(volume.mountpoint)
            self.remove(volume.name)
            removed.append((volume.name, size))
        return removed


def tree_size(root: Path) -> int:
    """Bytes of regular files under *root* (hard links counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total
