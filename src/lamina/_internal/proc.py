"""Subprocess helpers: run a helper binary, pull its error message out, translate failures.

Must not know about images or containers: callers pass a ``classify`` callback
that turns a helper's message into a specific lamina error. Also owns the one
process-wide knob a foreground container needs (becoming a child subreaper).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
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


@contextlib.contextmanager
def translate_failures(action: str, classify: Classifier | None = None,
                       extra: Callable[[], str] | None = None) -> Iterator[None]:
    """Turn ``CalledProcessError`` into a lamina error carrying the helper's message.

    *action* is the "verb object" prefix ("start container abc"); *classify* maps
    a message to a specific error (or ``None`` for the generic ``RuntimeFailed``);
    *extra* returns more output to search (e.g. a ``--log`` file's content).
    """
    try:
        yield
    except subprocess.CalledProcessError as exc:
        message = error_message(exc.stderr, extra() if extra else None)
        specific = classify(message) if classify and message else None
        if specific is not None:
            raise specific from exc
        detail = message or f"exit status {exc.returncode}"
        raise RuntimeFailed(f"{action}: {detail}", command=str(exc.cmd[0] if exc.cmd else ""),
                            stderr=message) from exc
    except subprocess.TimeoutExpired as exc:
        raise RuntimeFailed(f"{action}: timed out after {exc.timeout:g}s",
                            command=str(exc.cmd[0] if exc.cmd else "")) from exc


def run_checked(argv: Sequence[str], *, timeout: float | None = None) -> str:
    """Run *argv* with captured output; return stdout; raise ``CalledProcessError``."""
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                         check=False, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise subprocess.CalledProcessError(res.returncode, list(argv), res.stdout, res.stderr)
    return res.stdout


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
