"""_internal.proc: message extraction and CalledProcessError translation."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lamina._internal import proc
from lamina.errors import ContainerNotFound, RuntimeFailed


def test_log_messages_plain_and_json_skip_warnings():
    text = ('{"msg":"warned","level":"warning"}\n{"msg":"boom","level":"error","time":"t"}\n'
            "\nplain line\n{not json\n")
    assert proc.log_messages(text) == ["boom", "plain line", "{not json"]
    assert proc.log_messages(b'{"msg":"x"}') == ["x"]
    assert proc.log_messages(None) == []


def test_error_message_is_the_last_one():
    assert proc.error_message("a\nb", None, '{"msg":"c","level":"error"}') == "c"
    assert proc.error_message("", None) == ""


def _fail(stderr: str = "", cmd: str = "crun") -> None:
    raise subprocess.CalledProcessError(1, [cmd, "x"], "", stderr)


def test_translate_generic_failure_keeps_message_and_fields():
    with pytest.raises(RuntimeFailed) as info, proc.translate_failures("start container a"):
        _fail("first\nsomething broke")
    assert str(info.value) == "start container a: something broke"
    assert info.value.command == "crun" and info.value.stderr == "something broke"
    assert isinstance(info.value.__cause__, subprocess.CalledProcessError)


def test_translate_uses_classifier_and_extra_log():
    def classify(msg: str):
        return ContainerNotFound("a") if "no such" in msg else None

    def log() -> str:
        return '{"msg":"no such"}'

    with pytest.raises(ContainerNotFound), proc.translate_failures("x", classify, log):
        _fail("")
    with pytest.raises(RuntimeFailed, match="exit status 1"), proc.translate_failures("x", classify):
        _fail("")


def test_translate_timeout():
    with pytest.raises(RuntimeFailed, match="timed out"), proc.translate_failures("wait"):
        raise subprocess.TimeoutExpired(["crun"], 1.5)


def test_run_checked():
    assert proc.run_checked([sys.executable, "-c", "print('ok')"]) == "ok\n"
    with pytest.raises(subprocess.CalledProcessError) as info:
        proc.run_checked([sys.executable, "-c", "import sys; sys.stderr.write('bad'); sys.exit(3)"])
    assert info.value.returncode == 3 and info.value.stderr == "bad"


def test_exit_status_from_wait_status():
    assert proc.exit_status(7 << 8) == 7
    assert proc.exit_status(9) == 137  # killed by SIGKILL
