"""Lazy loggers: nothing is imported or printed below the threshold; records at or above it are logged."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from lamina._internal.logs import get_logger

PROGRAM = """
import sys
from lamina._internal import logs
logs.configure(logs.{level}, format="%(levelname)s[%(name)s] %(message)s", stream=sys.stderr)
log = logs.get_logger("lamina.test")
log.debug("debug %s", "detail")
print("loaded" if "logging" in sys.modules else "not loaded")
log.warning("careful %d", 3)
"""


def _run(level: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROGRAM.format(level=level)], capture_output=True, text=True,
                          check=True)


def test_quiet_process_never_imports_logging_until_a_warning() -> None:
    res = _run("WARNING")
    assert res.stdout == "not loaded\n"
    assert res.stderr == "WARNING[lamina.test] careful 3\n"


def test_debug_level_logs_everything() -> None:
    res = _run("DEBUG")
    assert res.stdout == "loaded\n"
    assert res.stderr == "DEBUG[lamina.test] debug detail\nWARNING[lamina.test] careful 3\n"


def test_host_program_logging_decides_once_loaded(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="lamina.unit"):
        get_logger("lamina.unit").debug("seen %s", "here")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [("lamina.unit", 10, "seen here")]
    assert caplog.records[0].filename == "test_internal_logs.py"   # the caller's line, not the shim's
