"""runtime.crun: message classification and argv building, with a fake crun script (no root)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from lamina.errors import (
    CommandNotExecutable,
    CommandNotFound,
    ContainerNotFound,
    ContainerRunning,
    InvalidStateTransition,
    NameInUse,
    RuntimeFailed,
    RuntimeNotFound,
)
from lamina.runtime import CrunRuntime, Runtime, RuntimeStatus
from lamina.runtime.crun import classify, find_runtime_binary

ROOT = Path("/run/lamina-test")


@pytest.mark.parametrize(("message", "cls", "exit_code"), [
    ("executable file `nosuch` not found in $PATH: No such file or directory", CommandNotFound, 127),
    ("exec container process (missing dynamic library?) `/bin/x`: No such file or directory",
     CommandNotFound, 127),
    ("open executable: Permission denied", CommandNotExecutable, 126),
    ("open executable: Operation not permitted", CommandNotExecutable, 126),
    ("exec container process `/bin/garbage`: Exec format error", CommandNotExecutable, 126),
])
def test_classify_command_errors(message, cls, exit_code):
    err = classify(message, "c1", ROOT, "/bin/x")
    assert isinstance(err, cls) and err.exit_code == exit_code


def test_classify_names_the_missing_command():
    err = classify("executable file `nosuch` not found in $PATH: No such file or directory", "c", ROOT)
    assert str(err) == 'exec: "nosuch": executable file not found in $PATH'


@pytest.mark.parametrize(("message", "cls"), [
    ("container `c1` already exists", NameInUse),
    (f"error opening file `{ROOT}/c1/status`: No such file or directory", ContainerNotFound),
    (f"cannot open directory '{ROOT}/c1': No such file or directory", ContainerNotFound),
    ("the container `c1` is not in `created` or `stopped` state", ContainerRunning),
    (f"cannot open `{ROOT}/c1/exec.fifo`: No such file or directory", InvalidStateTransition),
    ("kill container: No such process", InvalidStateTransition),
])
def test_classify_state_errors(message, cls):
    assert isinstance(classify(message, "c1", ROOT), cls)


def test_classify_unknown_is_none():
    assert classify("mount `/proc` to `/proc`: Operation not permitted", "c1", ROOT) is None
    other = f"error opening file `{ROOT}/other/status`: No such file or directory"
    assert classify(other, "c1", ROOT) is None


def test_find_runtime_binary_missing(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeNotFound):
        find_runtime_binary()
    with pytest.raises(RuntimeNotFound, match="nosuch-runtime"):
        find_runtime_binary("nosuch-runtime")


NOT_FOUND = '{"msg":"executable file `badcmd` not found in $PATH: No such file or directory","level":"error"}'
BUSY = "the container \\`c1\\` is not in \\`created\\` or \\`stopped\\` state"
FAKE_CRUN = """#!/bin/sh
# records argv, answers like crun 1.8.1
echo "$@" >> "{record}"
log=""
for a in "$@"; do case "$a" in --log=file:*) log="${{a#--log=file:}}";; esac; done
case " $* " in
  *" --version "*) echo "crun version 1.8.1"; echo "commit: x";;
  *" state ghost"*)
    echo "error opening file \\`{root}/ghost/status\\`: No such file or directory" >&2; exit 1;;
  *" state "*) echo '{{"id":"c1","pid":42,"status":"running","bundle":"/b"}}';;
  *" list "*) echo '[{{"id":"c1","pid":0,"status":"stopped","bundle":"/b"}}]';;
  *" run "*c3*) echo '{missing}' > "$log"; exit 1;;
  *" run "*) exit 5;;
  *" delete c1 "*) echo "{busy}" >&2; exit 1;;
esac
exit 0
"""


@pytest.fixture
def fake(tmp_path):
    state_root = tmp_path / "state"
    record = tmp_path / "argv"
    script = tmp_path / "crun"
    script.write_text(FAKE_CRUN.format(record=record, root=state_root, missing=NOT_FOUND, busy=BUSY))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    rt = CrunRuntime(str(script), state_root=state_root)
    rt._cgroups_ready = True  # never touch the host's cgroups from a unit test
    return rt, record


def test_protocol_conformance(fake):
    assert isinstance(fake[0], Runtime)


def test_state_list_version(fake):
    rt, record = fake
    st = rt.state("c1")
    assert (st.id, st.status, st.pid, st.bundle) == ("c1", RuntimeStatus.RUNNING, 42, Path("/b"))
    assert [s.status for s in rt.list()] == [RuntimeStatus.STOPPED]
    assert rt.version() == "crun 1.8.1"
    assert record.read_text().splitlines()[0] == f"--root {rt.state_root} state c1"


def test_errors_are_translated(fake):
    rt, _ = fake
    with pytest.raises(ContainerNotFound):
        rt.state("ghost")
    with pytest.raises(ContainerRunning):
        rt.delete("c1")


def test_kill_and_delete_argv(fake):
    rt, record = fake
    rt.kill("c2", 15, all=True)
    rt.delete("c2", force=True)
    lines = record.read_text().splitlines()
    assert lines[-2].endswith("kill --all c2 15") and lines[-1].endswith("delete --force c2")


def test_run_returns_container_status_and_maps_logged_errors(fake, tmp_path):
    rt, record = fake
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"process": {"args": ["badcmd"]}}))
    null = os.open(os.devnull, os.O_RDWR)
    try:
        with pytest.raises(CommandNotFound, match="badcmd"):
            rt.run("c3", bundle, stdio=(null, null, null))
        (bundle / "config.json").write_text(json.dumps({"process": {"args": ["ok"]}}))
        assert rt.run("c4", bundle, stdio=(null, null, null)) == 5  # no logged error: the container's
    finally:
        os.close(null)
    assert "--log-format=json" in record.read_text()
    assert not list(rt.state_root.glob(".log-*"))  # per-call log files are removed


def test_generic_failure_is_runtime_failed(tmp_path):
    script = tmp_path / "crun"
    script.write_text("#!/bin/sh\necho 'mount `/x`: Permission denied' >&2\nexit 1\n")
    script.chmod(0o755)
    rt = CrunRuntime(str(script), state_root=tmp_path / "s")
    with pytest.raises(RuntimeFailed, match="start container c9: mount"):
        rt.start("c9")
