"""Container health checks, as docker runs them: the image's ``HEALTHCHECK`` or ``--health-*`` flags,
probed by ``exec`` in the running container, the result in the record (``State.Health``).

There is no daemon: the monitor of a container (``lamina.container.monitor``) runs the checker in a
thread while it waits for the container. docker's rules: the first probe runs one interval after the
start; a probe that exits 0 makes the container ``healthy`` and resets the failing streak; a failure
(non-zero exit, or no answer within the timeout: the probe is killed and its exit code is -1) adds to
the streak, except during the start period until a first success; ``retries`` failures in a row make
it ``unhealthy``. The last 5 results are kept, each output cut at 4,096 bytes. A foreground container
run with its stdio inherited (``run --rm``, ``-t``) is probed by the ``run`` process itself.

Must not parse the CLI: ``--health-*`` values arrive as docker's ``Healthcheck`` object
(``override``), durations in nanoseconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from lamina._internal.logs import get_logger
from lamina._internal.records import Record, record
from lamina.errors import LaminaError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lamina.container.manager import ContainerManager
    from lamina.container.model import Container

log = get_logger(__name__)

SECOND = 1_000_000_000
DEFAULTS = {"Interval": 30 * SECOND, "Timeout": 30 * SECOND, "StartPeriod": 0, "Retries": 3}
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096
@record
class HealthSpec(Record):
    """The effective check: the command (as exec args) and docker's numbers (nanoseconds)."""

    args: tuple[str, ...]
    interval: int
    timeout: int
    start_period: int
    retries: int


def effective(image_check: Mapping[str, Any] | None, override: Mapping[str, Any] | None) -> HealthSpec | None:
    """The image's ``Healthcheck`` with the run flags' values over it; None without a test or with NONE."""
    merged: dict[str, Any] = {**(image_check or {})}
    merged.update({k: v for k, v in (override or {}).items() if v not in (None, 0, [])})
    test = list(merged.get("Test") or [])
    if not test or test[0] == "NONE":
        return None
    args = ("/bin/sh", "-c", test[1]) if test[0] == "CMD-SHELL" and len(test) > 1 else tuple(test[1:])
    if not args:
        return None
    values = {k: int(merged.get(k) or DEFAULTS[k]) for k in DEFAULTS}
    return HealthSpec(args=tuple(args), interval=values["Interval"], timeout=values["Timeout"],
                      start_period=values["StartPeriod"], retries=values["Retries"])


class HealthChecker:
    """Probes one running container in a thread until ``stop``."""

    def __init__(self, manager: ContainerManager, container: Container, spec: HealthSpec) -> None:
        self.manager, self.container, self.spec = manager, container, spec
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="health", daemon=True)
        self._started_at = time.monotonic()

    def start(self) -> None:
        self.manager.update_state(self.container.id, health={"Status": "starting", "FailingStreak": 0, "Log": []})
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.spec.timeout / SECOND + 5)

    def _loop(self) -> None:
        succeeded = False
        while not self._stop.wait(self.spec.interval / SECOND):
            try:
                entry = self._probe()
            except (LaminaError, OSError) as exc:   # the container went away between two probes
                log.debug("health probe id=%s: %s", self.container.id, exc)
                continue
            if self._stop.is_set():
                return
            succeeded = succeeded or entry["ExitCode"] == 0
            in_start = not succeeded and time.monotonic() - self._started_at < self.spec.start_period / SECOND
            self._record(entry, counts=not in_start)

    def _record(self, entry: dict[str, Any], *, counts: bool) -> None:
        stored = self.manager.store.state(self.container.id).health
        before = (stored or {}).get("Status")
        health = stored or {"Status": "starting", "FailingStreak": 0, "Log": []}
        if entry["ExitCode"] == 0:
            health.update(Status="healthy", FailingStreak=0)
        elif counts:
            streak = int(health.get("FailingStreak", 0)) + 1
            health["FailingStreak"] = streak
            if streak >= self.spec.retries:
                health["Status"] = "unhealthy"
        health["Log"] = [*list(health.get("Log") or []), entry][-MAX_LOG_ENTRIES:]
        self.manager.update_state(self.container.id, health=health)
        if health["Status"] != before:
            self.manager.event(self.container, f"health_status: {health['Status']}")

    def _probe(self) -> dict[str, Any]:
        """One exec of the check, killed after the timeout: docker's log entry."""
        from lamina.container.monitor import now_rfc3339
        process = self.manager.exec_process(self.container, self.spec.args)
        start = now_rfc3339()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryDirectory() as tmp:
            pid_file = Path(tmp) / "pid"
            timer = threading.Timer(self.spec.timeout / SECOND, _kill_from, (pid_file,))
            timer.start()
            devnull = os.open(os.devnull, os.O_RDONLY)
            try:
                stdio = (devnull, out.fileno(), out.fileno())
                code = self.manager.runtime.exec(self.container.id, process, stdio=stdio, pid_file=pid_file)
            finally:
                os.close(devnull)
                timer.cancel()
            timed_out = _was_killed(pid_file)
            out.seek(0)
            output = out.read(MAX_OUTPUT).decode(errors="replace")
        if timed_out:
            code, output = -1, f"Health check exceeded timeout ({self.spec.timeout / SECOND:g}s)"
        return {"Start": start, "End": now_rfc3339(), "ExitCode": code, "Output": output}


def _kill_from(pid_file: Path) -> None:
    """The timeout: SIGKILL the probe (its host pid, which crun wrote), and mark that it was killed."""
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        pid_file.with_suffix(".killed").touch()


def _was_killed(pid_file: Path) -> bool:
    return pid_file.with_suffix(".killed").exists()
