"""FakeRuntime: an in-memory Runtime that records calls and simulates states and exit codes.

Must not be imported by non-test code, and must not start processes or touch
cgroups. Scripting: ``exit_codes[command] = 3`` makes a run whose args[0] is
*command* exit 3; ``missing_commands``/``non_executable`` make create/run raise
CommandNotFound/CommandNotExecutable; ``oom[container_id] = True`` marks an OOM
kill (and makes the exit status 137). Started containers stay "running" until
``kill`` (exit 128+signal) or ``finish(id, code)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina._internal.records import replace
from lamina.errors import (
    CommandNotExecutable,
    CommandNotFound,
    ContainerNotFound,
    ContainerRunning,
    InvalidStateTransition,
    NameInUse,
)
from lamina.runtime.base import RuntimeState, RuntimeStatus, Stdio


@dataclass(slots=True)
class FakeCall:
    verb: str
    container_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)


class FakeRuntime:
    """In-memory ``Runtime``; every call is appended to ``calls``."""

    def __init__(self) -> None:
        self.calls: list[FakeCall] = []
        self.containers: dict[str, RuntimeState] = {}
        self.exit_codes: dict[str, int] = {}
        self.results: dict[str, int] = {}
        self.missing_commands: set[str] = set()
        self.non_executable: set[str] = set()
        self.oom: dict[str, bool] = {}
        self.exec_codes: dict[str, int] = {}
        self._next_pid = 1000

    # ------------------------------------------------------------ scripting helpers
    def finish(self, container_id: str, code: int = 0) -> None:
        """Make a running container exit with *code* (as if its process ended)."""
        self._set(container_id, RuntimeStatus.STOPPED)
        self.results[container_id] = code

    def verbs(self) -> list[str]:
        return [c.verb for c in self.calls]

    def _get(self, container_id: str) -> RuntimeState:
        try:
            return self.containers[container_id]
        except KeyError:
            raise ContainerNotFound(container_id) from None

    def _set(self, container_id: str, status: RuntimeStatus) -> None:
        pid = 0 if status is RuntimeStatus.STOPPED else self._get(container_id).pid
        self.containers[container_id] = replace(self._get(container_id), status=status, pid=pid)

    def _command(self, bundle: Path) -> str:
        try:
            return str(json.loads((bundle / "config.json").read_text())["process"]["args"][0])
        except (OSError, ValueError, KeyError, IndexError):
            return ""

    # ------------------------------------------------------------ protocol
    def create(self, container_id: str, bundle: Path, *, pid_file: Path,
               console_socket: Path | None = None, stdio: Stdio | None = None) -> None:
        self.calls.append(FakeCall("create", container_id, {"bundle": bundle, "stdio": stdio}))
        if container_id in self.containers:
            raise NameInUse(container_id, "another runtime container")
        command = self._command(bundle)
        if command in self.missing_commands:
            raise CommandNotFound(command)
        if command in self.non_executable:
            raise CommandNotExecutable(command)
        self._next_pid += 1
        self.containers[container_id] = RuntimeState(id=container_id, status=RuntimeStatus.CREATED,
                                                     pid=self._next_pid, bundle=Path(bundle))
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(str(self._next_pid))

    def start(self, container_id: str) -> None:
        self.calls.append(FakeCall("start", container_id))
        state = self._get(container_id)
        if state.status is not RuntimeStatus.CREATED:
            raise InvalidStateTransition(container_id, state.status.value, "start")
        self._set(container_id, RuntimeStatus.RUNNING)

    def state(self, container_id: str) -> RuntimeState:
        self.calls.append(FakeCall("state", container_id))
        return self._get(container_id)

    def kill(self, container_id: str, signal: int, *, all: bool = False) -> None:
        self.calls.append(FakeCall("kill", container_id, {"signal": signal, "all": all}))
        state = self._get(container_id)
        if state.status is RuntimeStatus.STOPPED:
            raise InvalidStateTransition(container_id, "stopped", "kill")
        self.finish(container_id, 128 + signal)

    def pause(self, container_id: str) -> None:
        self.calls.append(FakeCall("pause", container_id))
        if self._get(container_id).status is not RuntimeStatus.RUNNING:
            raise InvalidStateTransition(container_id, self._get(container_id).status.value, "pause")
        self._set(container_id, RuntimeStatus.PAUSED)

    def resume(self, container_id: str) -> None:
        self.calls.append(FakeCall("resume", container_id))
        if self._get(container_id).status is not RuntimeStatus.PAUSED:
            raise InvalidStateTransition(container_id, self._get(container_id).status.value, "unpause")
        self._set(container_id, RuntimeStatus.RUNNING)

    def delete(self, container_id: str, *, force: bool = False) -> None:
        self.calls.append(FakeCall("delete", container_id, {"force": force}))
        state = self._get(container_id)
        if state.status is RuntimeStatus.RUNNING and not force:
            raise ContainerRunning(container_id)
        del self.containers[container_id]

    def run(self, container_id: str, bundle: Path, *, stdio: Stdio | None = None,
            detach: bool = False, keep: bool = False) -> int:
        self.calls.append(FakeCall("run", container_id, {"bundle": bundle, "detach": detach, "keep": keep}))
        self.create(container_id, bundle, pid_file=Path(bundle) / ".fake.pid", stdio=stdio)
        self.start(container_id)
        if detach:
            return 0
        code = 137 if self.oom.get(container_id) else self.exit_codes.get(self._command(bundle), 0)
        self.finish(container_id, code)
        if not keep:
            del self.containers[container_id]
        return code

    def exec(self, container_id: str, process: dict[str, Any], *, tty: bool = False,
             stdio: Stdio | None = None, pid_file: Path | None = None) -> int:
        self.calls.append(FakeCall("exec", container_id, {"process": process, "tty": tty}))
        if self._get(container_id).status is not RuntimeStatus.RUNNING:
            raise InvalidStateTransition(container_id, self._get(container_id).status.value, "exec")
        command = str((process.get("args") or [""])[0])
        if command in self.missing_commands:
            raise CommandNotFound(command)
        return self.exec_codes.get(command, 0)

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        self.calls.append(FakeCall("update", container_id, {"resources": resources}))
        self._get(container_id)

    def list(self) -> list[RuntimeState]:
        self.calls.append(FakeCall("list", ""))
        return list(self.containers.values())

    def version(self) -> str:
        return "fake 1.0"

    def oom_killed(self, container_id: str) -> bool:
        self.calls.append(FakeCall("oom_killed", container_id))
        self._get(container_id)
        return self.oom.get(container_id, False)
