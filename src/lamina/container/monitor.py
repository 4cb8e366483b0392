"""Watching a container's init process: the per-container monitor and the foreground ``run``.

There is no daemon. Whoever starts a container waits for it while holding the record's
``monitor.lock``: the foreground CLI for an attached ``run``/``start -a``, or, for a
detached one, this module run as its own process::

    python -m lamina.container.monitor --root R --run-dir D --driver NAME --status-fd N ID

The monitor double-forks (the CLI reaps the first child at once), calls setsid, becomes
a child subreaper, creates and starts the container through the runtime with stdout and
stderr on pipes it copies into the json-file log, reports "started" or the start error
as one JSON line on the status fd, waits for the init, then records the exit code, the
finish time and OOMKilled into state.json, unmounts the rw layer and, with ``--rm``,
removes the container. Must not import the CLI, the engine or anything heavy.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from lamina._internal import proc
from lamina._internal.locking import FileLock
from lamina._internal.records import Record, record
from lamina.container.model import State, timestamp_ns
from lamina.errors import ContainerCommandError, LaminaError, RuntimeFailed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lamina.container.health import HealthChecker
    from lamina.container.logs import LogWriter
    from lamina.container.manager import ContainerManager
    from lamina.container.model import Container
    from lamina.runtime.protocol import Runtime

    Notify = Callable[[dict[str, Any]], None]
CONSOLE_TIMEOUT = 30.0   # seconds to wait for the runtime's pty master after a successful create


@record
class Attach(Record):
    """The caller's fds a foreground container uses (``None``: /dev/null, or not echoed)."""

    stdin: int | None = None
    stdout: int | None = 1
    stderr: int | None = 2


RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")


def parse_restart(text: str) -> tuple[str, int]:
    """``--restart``: ("on-failure", 3) for "on-failure:3"; InvalidOption naming a bad one (docker's words)."""
    from lamina.errors import InvalidOption
    name, sep, count = text.partition(":")
    if name not in RESTART_POLICIES:
        raise InvalidOption(f"invalid restart policy {text!r}")
    if sep and name != "on-failure":
        raise InvalidOption(f"maximum retry count cannot be used with restart policy {name!r}")
    if sep and not count.isdigit():
        raise InvalidOption(f"invalid restart policy format {text!r}")
    return name, int(count) if count else 0


def _restart_wanted(name: str, limit: int, code: int, count: int, extra: dict[str, Any]) -> bool:
    if extra.get("manual_stop") or name == "no":
        return False
    if name == "on-failure":
        return code != 0 and (limit == 0 or count < limit)
    return True   # always, unless-stopped (without a daemon, the same while the monitor lives)


@contextlib.contextmanager
def proxy_signals(runtime: Runtime, container_id: str) -> Iterator[None]:
    """While waiting on a container: SIGINT/SIGTERM/SIGHUP to this process go to it (docker's sig-proxy)."""
    import signal

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(LaminaError):
            runtime.kill(container_id, signum)
    old: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError):  # not the main thread
            old[sig] = signal.signal(sig, forward)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def now_rfc3339() -> str:
    return timestamp_ns()


def proc_starttime(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat (boot-relative start time), 0 when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = text.rpartition(")")[2].split()
    return int(fields[19]) if len(fields) > 19 else 0


def process_alive(pid: int, starttime: int = 0) -> bool:
    """True while *pid* is the same live (not zombie) process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = text.rpartition(")")[2].split()
    if not fields or fields[0] in ("Z", "X"):
        return False
    return not starttime or int(fields[19]) == starttime


def error_report(exc: LaminaError) -> dict[str, Any]:
    fields = {k: v for k, v in exc.fields.items() if isinstance(v, str | int | None)}
    return {"error": type(exc).__name__, "message": str(exc), "fields": fields}


def error_from_report(report: dict[str, Any]) -> LaminaError:
    """Rebuild the error a monitor reported (CommandNotFound keeps its exit code 127, …)."""
    import lamina.errors as errors
    fields = report.get("fields") or {}
    name, message = str(report.get("error", "")), str(report.get("message", "start failed"))
    if name == "CommandNotFound":
        return errors.CommandNotFound(str(fields.get("command", "")))
    if name == "CommandNotExecutable":
        err: LaminaError = errors.CommandNotExecutable(str(fields.get("command", "")))
        err.message = message
        err.args = (message,)
        return err
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, LaminaError):
        generic = LaminaError.__new__(cls)
        LaminaError.__init__(generic, message, **fields)
        return generic
    return RuntimeFailed(message)


class Supervisor:
    """Runs one container to completion and records what happened."""

    def __init__(self, manager: ContainerManager, container: Container) -> None:
        self.manager = manager
        self.container = container
        self.cid = container.id

    def run(self, attach: Attach | None, notify: Notify | None = None) -> int:
        """Start the container and wait for it; returns its exit status. Holds monitor.lock.

        *attach* None means detached (output only to the log). Start errors are recorded,
        reported through *notify* and raised.
        """
        # a previous watcher may still be finishing (restart): wait for it, generously under load
        lock = FileLock(self.manager.store.monitor_lock_path(self.cid), timeout=60)
        with lock:
            try:
                if attach is not None and (self.container.auto_remove or self.container.tty):
                    code = self._run_inherited(attach)
                else:
                    code = self._create_start_wait(attach, notify)
                    if attach is None:
                        code = self._restart_loop(code)
            finally:
                self.manager.finalize(self.cid)
        return code

    # ------------------------------------------------------------ restart policies (detached only)
    def _restart_loop(self, code: int) -> int:
        """docker's restart policies while this monitor lives: restart after an exit the policy wants
        restarted, after a delay that doubles from 100 ms (up to a minute; back to 100 ms after a run
        of 10 s), until a stop/kill or a start failure. Returns the last exit status."""
        policy = self.manager.store.load(self.cid).options.get("restart")   # ``update`` may have changed it
        name, limit = parse_restart(str(policy or "no"))
        count, delay, ran_from = 0, 0.1, time.monotonic()
        while _restart_wanted(name, limit, code, count, self.manager.store.state(self.cid).extra):
            delay = 0.1 if time.monotonic() - ran_from >= 10 else delay
            count += 1
            self.manager.update_state(self.cid, status=State.RESTARTING, restart_count=count)
            if not self._backoff(delay):
                break
            delay = min(delay * 2, 60.0)
            self.manager.disconnect(self.cid, self.manager.store.state(self.cid))
            ran_from = time.monotonic()
            try:
                code = self._create_start_wait(None, None)
            except LaminaError:
                return code   # recorded by _create_start_wait
        if self.manager.store.state(self.cid).status is State.RESTARTING:
            self._record_exit(code, oom=False)   # stopped while waiting to restart
        return code

    def _backoff(self, seconds: float) -> bool:
        """Wait *seconds*; False as soon as a stop or kill asks this container to stay down."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.manager.store.state(self.cid).extra.get("manual_stop"):
                return False
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return not self.manager.store.state(self.cid).extra.get("manual_stop")

    def _connect(self, notify: Notify | None) -> None:
        try:
            self.manager.connect(self.container)
        except LaminaError as exc:
            self._record_failure(exc, notify)
            raise

    # ------------------------------------------------------------ crun run, stdio inherited
    def _run_inherited(self, attach: Attach) -> int:
        """``crun run`` with the caller's stdio (fast; a real pty for -t); no logs, no OOM info."""
        self.manager.update_state(self.cid, status=State.RUNNING, pid=0, started_at=now_rfc3339(),
                                  mounted=True, exit_code=0, error="", oom_killed=False)
        self.manager.event(self.container, "start")
        self._connect(None)  # after RUNNING: a CLI killed meanwhile leaves what reconcile cleans up
        devnull = os.open(os.devnull, os.O_RDWR)
        stdio = (attach.stdin if attach.stdin is not None else devnull,
                 attach.stdout if attach.stdout is not None else devnull,
                 attach.stderr if attach.stderr is not None else devnull)
        checker = self._health_checker()
        try:
            code = self.manager.runtime.run(self.cid, self.manager.store.bundle(self.cid), stdio=stdio)
        except LaminaError as exc:
            self._record_failure(exc)
            raise
        finally:
            if checker is not None:
                checker.stop()
            os.close(devnull)
        self._record_exit(code, oom=False)
        return code

    # ------------------------------------------------------------ create + start + waitpid
    def _create_start_wait(self, attach: Attach | None, notify: Notify | None) -> int:
        proc.become_subreaper()
        runtime = self.manager.runtime
        self._connect(notify)
        from lamina.container.attach import AttachServer
        self._server = AttachServer(self.manager.store.dir(self.cid))
        try:
            pid = self._create(attach)
            runtime.start(self.cid)
        except LaminaError as exc:   # a failed create or start: recorded and reported once, here
            self._server.close(None)
            with contextlib.suppress(LaminaError):
                runtime.delete(self.cid, force=True)
            self._record_failure(exc, notify)
            raise
        self.manager.update_state(self.cid, status=State.RUNNING, pid=pid, started_at=now_rfc3339(),
                                  starttime=proc_starttime(pid), mounted=True, exit_code=0, error="",
                                  oom_killed=False, finished_at="")
        self.manager.event(self.container, "start")
        if notify:
            notify({"ok": True, "pid": pid})
        checker = self._health_checker()
        try:
            code = self._wait(pid)
        finally:
            if checker is not None:
                checker.stop()
        oom = False
        with contextlib.suppress(LaminaError, OSError):
            oom = runtime.oom_killed(self.cid)
        with contextlib.suppress(LaminaError):
            runtime.delete(self.cid, force=True)
        self._record_exit(code, oom=oom)
        self._server.close(code)
        return code

    def _health_checker(self) -> HealthChecker | None:
        """The image's HEALTHCHECK or the --health-* flags, probing from now on; None without one."""
        override = self.container.options.get("health")
        if not self.container.image_config.get("Healthcheck") and not override:
            return None
        from lamina.container.health import HealthChecker, effective
        spec = effective(self.container.image_config.get("Healthcheck"), override)
        if spec is None:
            return None
        checker = HealthChecker(self.manager, self.container, spec)
        checker.start()
        return checker

    def _create(self, attach: Attach | None) -> int:
        bundle = self.manager.store.bundle(self.cid)
        pid_file = bundle / "init.pid"
        pid_file.unlink(missing_ok=True)
        if self.container.tty and attach is None:
            return self._create_with_console(bundle, pid_file)
        devnull = os.open(os.devnull, os.O_RDWR)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        stdin = attach.stdin if attach is not None and attach.stdin is not None else devnull
        if attach is None and self.container.interactive:  # -di: stdin stays open for attach
            stdin, self._server.stdin_fd = os.pipe()
            os.set_inheritable(self._server.stdin_fd, False)
        try:
            self.manager.runtime.create(self.cid, bundle, pid_file=pid_file, stdio=(stdin, out_w, err_w))
            pid = int(pid_file.read_text().strip())
        except (LaminaError, OSError, ValueError) as exc:
            os.close(out_r)
            os.close(err_r)
            if isinstance(exc, LaminaError):
                raise
            raise RuntimeFailed(f"start container: {exc}") from exc
        finally:
            for fd in {out_w, err_w, devnull, stdin} - {attach.stdin if attach else None}:
                if fd is not None:
                    os.close(fd)
        self._pumps = self._start_pumps(out_r, err_r, attach)
        return pid

    def _create_with_console(self, bundle: Path, pid_file: Path) -> int:
        """Detached with a tty (``run -dt``): crun hands us the pty master, whose output goes to the log.

        The master stays open for the container's life, so a shell on the tty waits for input
        (docker's ``run -dit IMAGE sh`` idiom) instead of seeing end-of-file.
        """
        try:
            master = self._console_master(bundle, pid_file)
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError) as exc:
            raise RuntimeFailed(f"start container: {exc}") from exc
        from lamina.container.logs import pump
        self._writer = self._log_writer()
        self._server.stdin_fd = master if self.container.interactive else None
        self._pumps = [pump(master, "stdout", self._writer, None, self._server.send)]
        return pid

    def _console_master(self, bundle: Path, pid_file: Path) -> int:
        """``crun create --console-socket``: receive the pty master crun sends while it creates."""
        import socket
        import tempfile

        from lamina._internal.fsops import rmtree
        folder = tempfile.mkdtemp(prefix="lamina-console-")   # short: a socket path is <108 bytes
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(f"{folder}/sock")
            listener.listen(1)
            listener.settimeout(CONSOLE_TIMEOUT)
            self.manager.runtime.create(self.cid, bundle, pid_file=pid_file, console_socket=Path(f"{folder}/sock"))
            conn, _ = listener.accept()
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 64, 1)
        finally:
            listener.close()
            rmtree(folder)
        if not fds:
            raise RuntimeFailed(f"start container {self.cid}: the runtime sent no terminal")
        return fds[0]

    def _start_pumps(self, out_r: int, err_r: int, attach: Attach | None) -> list[Any]:
        from lamina.container.logs import pump  # threads: only when output is captured
        writer = self._log_writer()
        self._writer = writer
        echo_out = attach.stdout if attach else None
        echo_err = attach.stderr if attach else None
        return [pump(out_r, "stdout", writer, echo_out, self._server.send),
                pump(err_r, "stderr", writer, echo_err, self._server.send)]

    def _log_writer(self) -> LogWriter | None:
        """The json-file log with the container's ``--log-opt``s; None for ``--log-driver none``."""
        if self.container.options.get("log_driver") == "none":
            return None
        from lamina.container.logs import LogWriter
        opts = self.container.options
        return LogWriter(self.manager.store.log_path(self.cid), max_size=opts.get("log_max_size"),
                         max_files=int((opts.get("log_opts") or {}).get("max-file") or 1))

    def _wait(self, pid: int) -> int:
        with proxy_signals(self.manager.runtime, self.cid):
            while True:
                try:
                    _, status = os.waitpid(pid, 0)
                    code = proc.exit_status(status)
                    break
                except InterruptedError:
                    continue
                except ChildProcessError:  # not our child after all: poll until it is gone
                    while process_alive(pid):
                        time.sleep(0.05)
                    code = 255
                    break
        for thread in self._pumps:
            thread.join(timeout=5)
        if self._writer is not None:
            self._writer.close()
        return code

    # ------------------------------------------------------------ records
    def _record_exit(self, code: int, *, oom: bool) -> None:
        self.manager.update_state(self.cid, status=State.EXITED, pid=0, exit_code=code,
                                  finished_at=now_rfc3339(), oom_killed=oom)
        if oom:
            self.manager.event(self.container, "oom")
        self.manager.event(self.container, "die", exitCode=str(code))

    def _record_failure(self, exc: LaminaError, notify: Notify | None = None) -> None:
        """A start that failed: in the record, and to whoever waits for the start (*notify*)."""
        code = exc.exit_code if isinstance(exc, ContainerCommandError) else 128
        self.manager.update_state(self.cid, status=State.CREATED, pid=0, exit_code=code, error=str(exc),
                                  finished_at=now_rfc3339())
        if notify:
            notify(error_report(exc))


# ---------------------------------------------------------------- the monitor process
def _daemonize() -> None:
    """Fork twice-equivalent: the first child exits so the CLI can reap it; we continue in a new session."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    import signal
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _parse(argv: list[str]) -> dict[str, str]:
    opts: dict[str, str] = {}
    rest = list(argv)
    while rest:
        item = rest.pop(0)
        if item.startswith("--"):
            opts[item[2:]] = rest.pop(0)
        else:
            opts["id"] = item
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = _parse(list(sys.argv[1:] if argv is None else argv))
    status_fd = int(opts.get("status-fd", "-1"))
    _daemonize()
    from lamina.container.manager import ContainerManager
    manager = ContainerManager.for_monitor(root=Path(opts["root"]), run_dir=Path(opts["run-dir"]),
                                           driver_name=opts["driver"], runtime_binary=opts.get("runtime"))
    container = manager.store.load(opts["id"])

    def notify(report: dict[str, Any]) -> None:
        nonlocal status_fd
        if status_fd >= 0:
            with contextlib.suppress(OSError):
                os.write(status_fd, json.dumps(report).encode() + b"\n")
                os.close(status_fd)
            status_fd = -1

    try:
        Supervisor(manager, container).run(None, notify)
    except LaminaError as exc:
        notify(error_report(exc))
        return 1
    finally:
        notify({"error": "RuntimeFailed", "message": "start container: the monitor exited early"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
