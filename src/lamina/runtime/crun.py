"""CLI adapter for crun (or runc): ``<binary> --root <state_root> <verb> …``.

Must not know about images, layers, drivers or container records: it drives a
prepared bundle. It owns the mapping of crun's messages to lamina errors, found
by trying crun 1.8.1:

    executable file `x` not found in $PATH: No such file or directory  -> CommandNotFound
    exec container process (missing dynamic library?) `x`: No such …   -> CommandNotFound
    open executable: Permission denied | Operation not permitted (dir)  -> CommandNotExecutable
    exec container process `x`: Exec format error                        -> CommandNotExecutable
    container `x` already exists                                          -> NameInUse
    error opening file `<root>/<id>/status` | cannot open directory …     -> ContainerNotFound
    the container `x` is not in `created` or `stopped` state              -> ContainerRunning
    cannot open `<root>/<id>/exec.fifo` (start twice)                     -> InvalidStateTransition
    kill container: No such process (already stopped)                     -> InvalidStateTransition

crun exits 1 for all of these. Its errors are read from a per-call JSON ``--log``
file because its stderr is shared with the container when stdio is passed through.
Errors raised after the container's execve (exec format error, bad shebang) are
written to the container's stderr only; then the exit status is crun's 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from lamina._internal import cgroups, proc
from lamina._internal.fsops import which
from lamina._internal.logs import get_logger
from lamina.errors import (
    CommandNotExecutable,
    CommandNotFound,
    ContainerNotFound,
    ContainerRunning,
    InvalidStateTransition,
    LaminaError,
    NameInUse,
    RuntimeFailed,
    RuntimeNotFound,
)
from lamina.runtime.base import RuntimeState, RuntimeStatus, Stdio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)

CALL_TIMEOUT = 120.0  # seconds for verbs that do not wait for the container
_NOT_EXECUTABLE = {"Permission denied": "permission denied", "Operation not permitted": "is a directory",
                   "Exec format error": "exec format error", "Is a directory": "is a directory"}


def find_runtime_binary(binary: str | None = None) -> str:
    """Absolute path of *binary* (a name or path) or of crun, then runc; ``RuntimeNotFound``."""
    for name in ([binary] if binary else ["crun", "runc"]):
        path = which(name)  # not shutil's: importing shutil costs ~1.5 ms of every run
        if path:
            return path
    wanted = binary or "crun or runc"
    raise RuntimeNotFound(f"find oci runtime: {wanted} not found in $PATH")


def classify(message: str, container_id: str, state_root: Path, command: str = "") -> LaminaError | None:
    """The specific lamina error for a crun/runc *message*, or ``None``."""
    named = re.search(r"`([^`]*)`", message)
    if "executable file" in message and "not found" in message:
        return CommandNotFound(named.group(1) if named else command)
    if message.startswith("exec container process") or message.startswith("open executable"):
        if message.endswith("No such file or directory"):
            return CommandNotFound(command or (named.group(1) if named else ""))
        for errno_text, reason in _NOT_EXECUTABLE.items():
            if message.endswith(errno_text):
                return CommandNotExecutable(command or (named.group(1) if named else ""), reason)
    return _classify_state(message, container_id, state_root)


def _classify_state(message: str, container_id: str, state_root: Path) -> LaminaError | None:
    if "already exists" in message:
        return NameInUse(container_id, "another runtime container")
    if "exec.fifo" in message:
        return InvalidStateTransition(container_id, "not created", "start")
    if "not in `created` or `stopped` state" in message or "cannot delete container" in message:
        return ContainerRunning(container_id)
    if "kill container: No such process" in message:
        return InvalidStateTransition(container_id, "stopped", "kill")
    if not container_id:
        return None
    missing = "No such file or directory" in message and str(state_root / container_id) in message
    if missing or "container does not exist" in message:
        return ContainerNotFound(container_id)
    return None


def _bundle_command(bundle: Path) -> str:
    with contextlib.suppress(OSError, ValueError, KeyError, IndexError, TypeError):
        return str(json.loads((bundle / "config.json").read_text())["process"]["args"][0])
    return ""


class CrunRuntime:
    """crun/runc through its CLI. State lives under *state_root* (``--root``).

    Foreground ``run(keep=True)`` makes this process a child subreaper so it can
    wait for the container's init; that is process-wide and permanent.
    """

    def __init__(self, binary: str | None = None, *, state_root: Path) -> None:
        self.binary = find_runtime_binary(binary)
        self.name = Path(self.binary).name
        self.state_root = Path(state_root)
        self._global: list[str] = []
        self._cgroups_ready = False
        self._version: str | None = None

    # ------------------------------------------------------------ plumbing
    def _argv(self, *args: str, log_file: Path | None = None) -> list[str]:
        argv = [self.binary, "--root", str(self.state_root), *self._global]
        if log_file is not None:
            target = f"file:{log_file}" if self.name == "crun" else str(log_file)
            argv += [f"--log={target}", "--log-format=json"]
        return [*argv, *args]

    def _ensure_cgroups(self) -> None:
        if self._cgroups_ready:
            return
        cgroups.prepare_cgroups()
        status = cgroups.cgroup_status()
        if not status.usable and self.name == "crun":
            log.warning("cgroups unusable (%s): running crun with --cgroup-manager=disabled; "
                        "resource limits are not enforced", status.reason)
            self._global.append("--cgroup-manager=disabled")
        self._cgroups_ready = True

    @contextlib.contextmanager
    def _translated(self, action: str, container_id: str, *, command: str = "",
                    log_file: Path | None = None) -> Iterator[None]:
        def read_log() -> str:
            return log_file.read_text(errors="replace") if log_file and log_file.exists() else ""

        def mapper(message: str) -> LaminaError | None:
            return classify(message, container_id, self.state_root, command)

        with proc.translate_failures(action, mapper, read_log):
            yield

    @contextlib.contextmanager
    def _log_file(self) -> Iterator[Path]:
        self.state_root.mkdir(parents=True, exist_ok=True)
        path = self.state_root / f".log-{os.urandom(8).hex()}.json"
        try:
            yield path
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _call(self, action: str, container_id: str, *args: str) -> str:
        """Run a verb that does not hand stdio to the container; return its stdout."""
        with self._translated(action, container_id):
            return proc.run_checked(self._argv(*args), timeout=CALL_TIMEOUT)

    def _spawn(self, action: str, container_id: str, args: Sequence[str], *, command: str,
               stdio: Stdio | None, fail_on_log: bool) -> int:
        """Run a verb whose stdio the container inherits; errors come from the ``--log`` file.

        With *fail_on_log*, a non-zero status is crun's own failure only when it
        logged an error (otherwise it is the container's exit status).
        """
        with self._log_file() as log_file, \
                self._translated(action, container_id, command=command, log_file=log_file):
            fds: Sequence[int | None] = stdio if stdio is not None else (None, None, None)
            argv = self._argv(*args, log_file=log_file)
            rc = proc.spawn_wait(argv, fds)
            failed = rc != 0 and (not fail_on_log or bool(proc.log_messages(_read(log_file))))
            if failed:
                raise proc.HelperFailed(rc, argv)
            return rc

    # ------------------------------------------------------------ protocol
    def create(self, container_id: str, bundle: Path, *, pid_file: Path,
               console_socket: Path | None = None, stdio: Stdio | None = None) -> None:
        self._ensure_cgroups()
        args = ["create", "--bundle", str(bundle), "--pid-file", str(pid_file)]
        if console_socket is not None:
            args += ["--console-socket", str(console_socket)]
        with _devnull_stdio(stdio) as fds:
            self._spawn(f"create container {container_id}", container_id, [*args, container_id],
                        command=_bundle_command(bundle), stdio=fds, fail_on_log=False)

    def start(self, container_id: str) -> None:
        self._call(f"start container {container_id}", container_id, "start", container_id)

    def state(self, container_id: str) -> RuntimeState:
        out = self._call(f"inspect container {container_id}", container_id, "state", container_id)
        return _parse_state(json.loads(out))

    def kill(self, container_id: str, signal: int, *, all: bool = False) -> None:
        flags = ["--all"] if all else []
        self._call(f"kill container {container_id}", container_id, "kill", *flags, container_id, str(signal))

    def delete(self, container_id: str, *, force: bool = False) -> None:
        flags = ["--force"] if force else []
        self._call(f"delete container {container_id}", container_id, "delete", *flags, container_id)

    def run(self, container_id: str, bundle: Path, *, stdio: Stdio | None = None,
            detach: bool = False, keep: bool = False) -> int:
        if detach or keep:
            return self._create_start(container_id, bundle, stdio=stdio, wait=not detach)
        self._ensure_cgroups()
        return self._spawn(f"run container {container_id}", container_id,
                           ["run", "--bundle", str(bundle), container_id],
                           command=_bundle_command(bundle), stdio=stdio, fail_on_log=True)

    def exec(self, container_id: str, process: dict[str, Any], *, tty: bool = False,
             stdio: Stdio | None = None, pid_file: Path | None = None) -> int:
        spec = {**process, "terminal": tty}
        path = self.state_root / f".exec-{os.urandom(8).hex()}.json"
        path.write_text(json.dumps(spec))
        pid_args = ["--pid-file", str(pid_file)] if pid_file is not None else []
        args = ["exec", "--process", str(path), *pid_args, *(["--tty"] if tty else []), container_id]
        command = str((process.get("args") or [""])[0])
        try:
            return self._spawn(f"exec in container {container_id}", container_id, args,
                               command=command, stdio=stdio, fail_on_log=True)
        finally:
            path.unlink(missing_ok=True)

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        path = self.state_root / f".update-{os.urandom(8).hex()}.json"
        path.write_text(json.dumps(resources))
        try:
            self._call(f"update container {container_id}", container_id, "update", "--resources", str(path),
                       container_id)
        finally:
            path.unlink(missing_ok=True)

    def pause(self, container_id: str) -> None:
        self._call(f"pause container {container_id}", container_id, "pause", container_id)

    def resume(self, container_id: str) -> None:
        self._call(f"unpause container {container_id}", container_id, "resume", container_id)

    def list(self) -> list[RuntimeState]:
        out = self._call("list containers", "", "list", "--format=json")
        return [_parse_state(item) for item in (json.loads(out or "[]") or [])]

    def version(self) -> str:
        if self._version is None:
            out = self._call("query runtime version", "", "--version")
            first = out.splitlines()[0] if out else self.name
            self._version = f"{self.name} {first.split()[-1]}"
        return self._version

    def oom_killed(self, container_id: str) -> bool:
        bundle = self.state(container_id).bundle
        with contextlib.suppress(OSError, ValueError):
            config = json.loads((bundle / "config.json").read_text())
            path = (config.get("linux") or {}).get("cgroupsPath")
            if isinstance(path, str) and path:
                return cgroups.oom_kill_count(path) > 0
        return False

    # ------------------------------------------------------------ foreground with wait
    def _create_start(self, container_id: str, bundle: Path, *, stdio: Stdio | None, wait: bool) -> int:
        if wait:
            proc.become_subreaper()
        pid_file = self.state_root / f".{container_id}.pid"
        self.state_root.mkdir(parents=True, exist_ok=True)
        if stdio is None and wait:
            stdio = (0, 1, 2)  # foreground: the caller's stdio, like a shell
        self.create(container_id, bundle, pid_file=pid_file, stdio=stdio)
        try:
            pid = int(pid_file.read_text().strip())
            pid_file.unlink()
            self.start(container_id)
        except (LaminaError, OSError, ValueError):
            self.delete(container_id, force=True)
            raise
        return self._wait(container_id, pid) if wait else 0

    def _wait(self, container_id: str, pid: int) -> int:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError as exc:
            raise RuntimeFailed(f"wait for container {container_id}: pid {pid} is not a child "
                                "of this process (subreaper refused)") from exc
        return proc.exit_status(status)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


@contextlib.contextmanager
def _devnull_stdio(stdio: Stdio | None) -> Iterator[Stdio]:
    if stdio is not None:
        yield stdio
        return
    fd = os.open(os.devnull, os.O_RDWR)
    try:
        yield (fd, fd, fd)
    finally:
        os.close(fd)


def _parse_state(data: dict[str, Any]) -> RuntimeState:
    try:
        status = RuntimeStatus(str(data.get("status", "")))
    except ValueError:
        status = RuntimeStatus.STOPPED  # unknown states: not runnable by lamina
    return RuntimeState(id=str(data["id"]), status=status, pid=int(data.get("pid") or 0),
                        bundle=Path(str(data.get("bundle", ""))))
