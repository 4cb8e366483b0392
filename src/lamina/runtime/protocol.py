"""The Runtime protocol: what lamina needs from an OCI runtime.

Must not know about images, layers, drivers or container records: a runtime
drives a prepared bundle (config.json + rootfs) by container id, nothing more.
Implementations: ``lamina.runtime.crun.CrunRuntime`` (crun/runc CLI) and
``lamina.testing.runtime.FakeRuntime``. Code on ``run``'s start-up path imports this module only
for type checking (it costs the ``typing`` import, ~1.6 ms).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from lamina.runtime.base import RuntimeState, Stdio


@runtime_checkable
class Runtime(Protocol):
    """An OCI runtime. Every method raises ``ContainerNotFound`` for an unknown id.

    Failures without a more specific error raise ``RuntimeFailed``; a command that
    cannot be found or executed raises ``CommandNotFound`` / ``CommandNotExecutable``.
    """

    def create(self, container_id: str, bundle: Path, *, pid_file: Path,
               console_socket: Path | None = None, stdio: Stdio | None = None) -> None:
        """Create the container (process waits for ``start``); ``NameInUse`` if the id exists.

        *stdio* fds become the container's stdin/stdout/stderr (default /dev/null).
        """

    def start(self, container_id: str) -> None:
        """Start a created container; ``InvalidStateTransition`` if not created."""

    def state(self, container_id: str) -> RuntimeState:
        """The runtime's view of the container."""

    def kill(self, container_id: str, signal: int, *, all: bool = False) -> None:
        """Send *signal* to the init process (or every process with *all*)."""

    def delete(self, container_id: str, *, force: bool = False) -> None:
        """Forget the container; ``ContainerRunning`` unless stopped (or *force*)."""

    def pause(self, container_id: str) -> None:
        """Freeze every process of a running container; ``InvalidStateTransition`` if not running."""

    def resume(self, container_id: str) -> None:
        """Thaw a paused container; ``InvalidStateTransition`` if not paused."""

    def run(self, container_id: str, bundle: Path, *, stdio: Stdio | None = None,
            detach: bool = False, keep: bool = False) -> int:
        """Create and start. Foreground: wait and return the exit status (128+N on signal N).

        The container is deleted after a foreground run unless *keep*: a kept
        (stopped) container can still answer ``oom_killed`` and must be deleted.
        Detached: returns 0 once started. *stdio* defaults to the caller's.
        """

    def exec(self, container_id: str, process: dict[str, Any], *, tty: bool = False,
             stdio: Stdio | None = None, pid_file: Path | None = None) -> int:
        """Run an extra process (an OCI ``process`` object) in a running container; its exit status.

        *pid_file* gets the process's host pid while it runs (to kill it after a timeout).
        """

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """Apply an OCI ``linux.resources`` object to a running container's cgroups."""

    def list(self) -> list[RuntimeState]:
        """Every container this runtime knows (under its state root)."""

    def version(self) -> str:
        """The runtime's name and version, e.g. "crun 1.8.1"."""

    def oom_killed(self, container_id: str) -> bool:
        """Whether the kernel OOM-killed a process of the container (read before delete)."""
