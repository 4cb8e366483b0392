"""ContainerStore: one directory per container, a name index with uniqueness, and per-container locks.

Must not start processes, mount layers or talk to the runtime: it only reads and writes
records. On-disk layout under ``<root>/containers/``::

    names/<name>            holds the container id; created with O_EXCL, so names are unique
    <id>/incomplete         written first by ``reserve`` and removed last by ``commit``:
                            a record that still has it (and whose lock is free) is a
                            crashed creation and is removed by reconciliation
    <id>/config.json        the ``Container`` (atomic, written once)
    <id>/state.json         the ``ContainerState`` (atomic, rewritten on every transition)
    <id>/lock               per-container flock (lock order: containers.lock, then this)
    <id>/monitor.lock       held for as long as a process (monitor or foreground CLI) waits
                            for the container's init: free while "running" means nobody watches
    <id>/bundle/            the OCI bundle: config.json + etc/{hostname,hosts,resolv.conf}
    <id>/container.log      json-file logs (one JSON object per line)

Records are written atomically (tmp + rename) but not fsynced: they describe processes that a
power loss ends anyway, and an fsync per transition was most of ``run --rm``'s own cost. A
SIGKILLed CLI still leaves either the old or the new record, never a torn one.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from lamina._internal.fsops import atomic_write, is_plain_name, move_to_trash, rmtree
from lamina._internal.locking import FileLock, try_lock
from lamina._internal.logs import get_logger
from lamina._internal.records import replace
from lamina.container.model import Container, ContainerState
from lamina.digest import is_lower_hex
from lamina.errors import ContainerNotFound, InvalidArgument, InvalidOption, NameInUse, StoreCorrupted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)



def is_container_id(text: str) -> bool:
    return len(text) == 64 and is_lower_hex(text)


def validate_name(name: str) -> str:
    """docker's rule for container names (a leading "/" is accepted and dropped)."""
    bare = name.removeprefix("/")
    if not is_plain_name(bare, 255):
        raise InvalidOption(f'invalid container name "{name}", only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
    return bare


class ContainerStore:
    """Container records under ``<root>`` (the ``containers`` directory)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.names = self.root / "names"

    # ------------------------------------------------------------ paths
    def dir(self, container_id: str) -> Path:
        if not is_container_id(container_id):
            raise InvalidArgument(f"invalid container id {container_id!r}")
        return self.root / container_id

    def bundle(self, container_id: str) -> Path:
        return self.dir(container_id) / "bundle"

    def log_path(self, container_id: str) -> Path:
        return self.dir(container_id) / "container.log"

    def lock(self, container_id: str, timeout: float | None = 60.0) -> FileLock:
        return FileLock(self.dir(container_id) / "lock", timeout=timeout)

    def monitor_lock_path(self, container_id: str) -> Path:
        return self.dir(container_id) / "monitor.lock"

    def watched(self, container_id: str) -> bool:
        """True when a monitor or a foreground CLI holds the container's monitor lock."""
        held = try_lock(self.monitor_lock_path(container_id))
        if held is None:
            return True
        held.release()
        return False

    # ------------------------------------------------------------ creation
    def reserve(self, container_id: str, name: str) -> FileLock:
        """Make the record's directory (marked incomplete), claim *name*, and return its held lock.

        The directory is built as ``.new-<id>`` with the lock taken before it is renamed into
        place, so reconciliation never sees an unlocked incomplete record that is still being
        created. Raises ``NameInUse``; the caller releases the lock after ``commit``.
        """
        final = self.dir(container_id)
        staging = self.root / f".new-{container_id}"
        staging.mkdir(parents=True)
        lock = FileLock(staging / "lock", timeout=0)
        lock.acquire()
        try:
            atomic_write(staging / "incomplete", b"", durable=False)
            self._claim(name, container_id)
            os.rename(staging, final)
        except BaseException:
            lock.release()
            rmtree(staging)
            raise
        return lock

    def stale_staging(self) -> list[Path]:
        """``.new-*`` directories whose creator died before renaming them (lock free)."""
        if not self.root.is_dir():
            return []
        out = []
        for path in (p for p in self.root.iterdir() if p.name.startswith(".new-")):
            held = try_lock(path / "lock")
            if held is not None:
                held.release()
                out.append(path)
        return out

    def _claim(self, name: str, container_id: str) -> None:
        self.names.mkdir(parents=True, exist_ok=True)
        entry = self.names / name
        for _ in range(2):
            try:
                fd = os.open(entry, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self._name_holder(name)
                if holder is not None and (self.root / holder).is_dir() and self._holds(holder, name):
                    raise NameInUse(f"/{name}", f'container "{holder}". You have to remove '
                                    "(or rename) that container to be able to reuse that name") from None
                entry.unlink(missing_ok=True)  # a stale claim left by a crash
                continue
            with os.fdopen(fd, "w") as f:
                f.write(container_id)
            return
        raise NameInUse(f"/{name}", "another container")

    def _holds(self, container_id: str, name: str) -> bool:
        """False when the record kept another name: a rename that crashed before rewriting it."""
        try:
            return self.load(container_id).name == name
        except (ContainerNotFound, StoreCorrupted, OSError, ValueError):
            return True   # being created, or unreadable: the claim stands

    def rename(self, container: Container, name: str) -> Container:
        """docker rename: claim *name*, rewrite the record with it, then release the old name.

        ``NameInUse`` when another container has *name*. A crash after the claim leaves a claim the
        record does not hold, which the next claim of that name takes over.
        """
        self._claim(name, container.id)
        renamed = replace(container, name=name)
        try:
            self.save(renamed)
        except BaseException:
            (self.names / name).unlink(missing_ok=True)
            raise
        if self._name_holder(container.name) == container.id:
            (self.names / container.name).unlink(missing_ok=True)
        return renamed

    def _name_holder(self, name: str) -> str | None:
        try:
            return (self.names / name).read_text().strip() or None
        except (FileNotFoundError, NotADirectoryError):
            return None

    def commit(self, container: Container, state: ContainerState) -> None:
        """Write config.json and state.json, then clear the incomplete marker (last)."""
        self.save(container)
        self.save_state(container.id, state)
        (self.dir(container.id) / "incomplete").unlink(missing_ok=True)

    def save(self, container: Container) -> None:
        """Rewrite the record (config.json); callers that change one hold the container's lock."""
        atomic_write(self.dir(container.id) / "config.json", json.dumps(container.to_json()).encode(), durable=False)

    def runtime_config(self, container_id: str) -> dict[str, Any]:
        """The bundle's OCI config.json."""
        config: dict[str, Any] = json.loads((self.bundle(container_id) / "config.json").read_bytes())
        return config

    def save_runtime_config(self, container_id: str, config: dict[str, Any]) -> None:
        atomic_write(self.bundle(container_id) / "config.json", json.dumps(config).encode(), durable=False)

    def incomplete(self, container_id: str) -> bool:
        return (self.dir(container_id) / "incomplete").exists()

    # ------------------------------------------------------------ settled marks
    # A container with a mark in ``.settled/`` is stopped, unmounted and owned by no process: reconciliation
    # (every command runs it) skips it without reading its state. The mark is made after a container
    # settles and removed before it leaves that (``start``), so a crash leaves at worst a container
    # without a mark, which is only checked.
    def settle(self, container_id: str) -> None:
        marks = self.root / ".settled"
        marks.mkdir(exist_ok=True)
        (marks / container_id).touch()

    def unsettle(self, container_id: str) -> None:
        (self.root / ".settled" / container_id).unlink(missing_ok=True)

    def settled(self) -> set[str]:
        try:
            return set(os.listdir(self.root / ".settled"))
        except FileNotFoundError:
            return set()

    # ------------------------------------------------------------ reading
    def ids(self) -> list[str]:
        """Every record directory (complete or not)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if is_container_id(p.name))

    def load(self, container_id: str) -> Container:
        try:
            data = json.loads((self.dir(container_id) / "config.json").read_text())
        except FileNotFoundError:
            raise ContainerNotFound(container_id) from None
        except ValueError as exc:
            raise StoreCorrupted(f"read container {container_id}: {exc}") from exc
        return Container.from_json(data)

    def state(self, container_id: str) -> ContainerState:
        try:
            return ContainerState.from_json(json.loads((self.dir(container_id) / "state.json").read_text()))
        except FileNotFoundError:
            return ContainerState()
        except ValueError as exc:
            raise StoreCorrupted(f"read container state {container_id}: {exc}") from exc

    def save_state(self, container_id: str, state: ContainerState) -> None:
        atomic_write(self.dir(container_id) / "state.json", json.dumps(state.to_json()).encode(), durable=False)

    def list(self) -> list[Container]:
        out = []
        for cid in self.ids():
            if self.incomplete(cid):
                continue
            with contextlib.suppress(ContainerNotFound, StoreCorrupted):
                out.append(self.load(cid))
        return out

    def resolve(self, name_or_id: str) -> Container:
        """By full id, exact name ("/name" too) or unique id prefix; ``ContainerNotFound``."""
        key = name_or_id.removeprefix("/")
        if is_container_id(key) and (self.root / key / "config.json").exists():
            return self.load(key)
        holder = self._name_holder(key) if is_plain_name(key, 255) else None
        if holder and (self.root / holder / "config.json").exists() and not self.incomplete(holder):
            return self.load(holder)
        if len(key) < 64 and is_lower_hex(key):
            matches = [c for c in self.ids() if c.startswith(key) and not self.incomplete(c)]
            if len(matches) > 1:
                raise InvalidArgument(f"multiple containers found with provided prefix: {key}")
            if matches:
                return self.load(matches[0])
        raise ContainerNotFound(name_or_id)

    # ------------------------------------------------------------ removal
    def delete(self, container_id: str, name: str | None) -> None:
        """Release the name (if still ours) and remove the record directory. Idempotent."""
        if name and self._name_holder(name) == container_id:
            (self.names / name).unlink(missing_ok=True)
        self.unsettle(container_id)
        path = self.dir(container_id)
        if path.exists():
            rmtree(move_to_trash(path, self.root / ".trash"))

    @contextlib.contextmanager
    def store_lock(self) -> Iterator[None]:
        """The container-store lock (order: after the layer store, before any container lock)."""
        with FileLock(self.root / ".lock"):
            yield
