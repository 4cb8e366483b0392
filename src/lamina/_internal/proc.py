"""Subprocess helpers: run a helper binary, pull its error message out, translate failures.

Must not know about images or containers: callers pass a ``classify`` callback
that turns a helper's message into a specific lamina error. Also owns the one
process-wide knob a foreground container needs (becoming a child subreaper).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence

from lamina.errors import LaminaError, RuntimeFailed

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
Classifier = Callable[[str], LaminaError | None]


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def log_messages(text: str | bytes | None) -> list[str]:
    """Error messages in a helper's output: JSON log lines (``{"msg": …}``) or plain lines.

    JSON records whose ``level`` is below "error" (warnings) are left out.
    """
    out: list[str] = []
    for line in _text(text).splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and isinstance(record.get("msg"), str):
                    if record.get("level", "error") in ("error", "fatal"):  # skip warnings
                        out.append(record["msg"])
                    continue
        out.append(line)
    return out


def error_message(*texts: str | bytes | None) -> str:
    """The last error message found in *texts* (stderr, log file…), or ""."""
    messages = [m for t in texts for m in log_messages(t)]
    return messages[-1] if messages else ""


class HelperFailed(Exception):
    """A helper exited non-zero: ``subprocess.CalledProcessError`` for ``spawn_wait``, which does not
    import subprocess (with selectors, threading and locale: ~2 ms of ``lamina run``'s start-up)."""

    def __init__(self, returncode: int, cmd: Sequence[str], stderr: str = "") -> None:
        super().__init__(f"{cmd[0] if cmd else '?'} exited {returncode}")
        self.returncode, self.cmd, self.stderr = returncode, list(cmd), stderr


@contextlib.contextmanager
def translate_failures(action: str, classify: Classifier | None = None,
                       extra: Callable[[], str] | None = None) -> Iterator[None]:
    """Turn ``HelperFailed``/``CalledProcessError`` into a lamina error carrying the helper's message.

    *action* is the "verb object" prefix ("start container abc"); *classify* maps
    a message to a specific error (or ``None`` for the generic ``RuntimeFailed``);
    *extra* returns more output to search (e.g. a ``--log`` file's content).
    """
    try:
        yield
    except Exception as exc:
        subprocess = sys.modules.get("subprocess")   # its errors can only come from a loaded module
        if subprocess is not None and isinstance(exc, subprocess.TimeoutExpired):
            raise RuntimeFailed(f"{action}: timed out after {exc.timeout:g}s",
                                command=str(exc.cmd[0] if exc.cmd else "")) from exc
        failed = isinstance(exc, HelperFailed) or (subprocess is not None and
                                                    isinstance(exc, subprocess.CalledProcessError))
        if not failed:
            raise
        _raise_translated(action, classify, extra, exc)


def _raise_translated(action: str, classify: Classifier | None, extra: Callable[[], str] | None,
                      exc: Exception) -> None:
    stderr, cmd = getattr(exc, "stderr", ""), getattr(exc, "cmd", None) or [""]
    message = error_message(stderr, extra() if extra else None)
    specific = classify(message) if classify and message else None
    if specific is not None:
        raise specific from exc
    detail = message or f"exit status {getattr(exc, 'returncode', '?')}"
    raise RuntimeFailed(f"{action}: {detail}", command=str(cmd[0]), stderr=message) from exc


def run_checked(argv: Sequence[str], *, timeout: float | None = None) -> str:
    """Run *argv* with captured output; return stdout; raise ``CalledProcessError``."""
    import subprocess
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                         check=False, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise subprocess.CalledProcessError(res.returncode, list(argv), res.stdout, res.stderr)
    return res.stdout


def spawn_wait(argv: Sequence[str], stdio: Sequence[int | None]) -> int:
    """Run *argv* with fds *stdio* as its 0, 1, 2 (None: ours) and wait: its returncode, -N if killed
    by signal N (``subprocess.run``'s). posix_spawn (vfork in glibc), and no subprocess import.
    Interrupted (Ctrl-C), the child is killed and waited for, as ``subprocess.run`` does."""
    actions = []
    for target, fd in enumerate(stdio):
        if fd is None:
            continue
        if fd == target:
            os.set_inheritable(fd, True)
        else:
            actions.append((os.POSIX_SPAWN_DUP2, fd, target))
    pid = os.posix_spawnp(argv[0], list(argv), os.environ, file_actions=actions)
    try:
        _, status = os.waitpid(pid, 0)
    except BaseException:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        raise
    return os.waitstatus_to_exitcode(status)


def exit_status(wait_status: int) -> int:
    """A shell-style exit code from a ``waitpid`` status (128+N when killed by signal N)."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def become_subreaper() -> bool:
    """Make this process adopt orphaned descendants (so it can wait for a container init).

    Process-wide and permanent; returns False when the kernel refuses.
    """
    import ctypes  # lazy: only foreground container runs need it

    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0


def die_with_parent() -> None:
    """``preexec_fn`` for helpers that write into the store (``cp -a``, ``btrfs``): SIGKILL them when we die.

    Without it a helper outlives a killed CLI and keeps writing into a staging directory that
    start-up recovery is removing. The parent is the forking thread: call it only from a thread
    that waits for the child (``subprocess.run`` does).
    """
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
