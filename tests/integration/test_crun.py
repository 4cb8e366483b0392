"""CrunRuntime + build_runtime_config against real crun, on a rootfs made from static busybox."""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import signal
import time
import uuid
from pathlib import Path

import pytest

from lamina.container.ocispec import RunOptions, build_runtime_config, write_etc_files
from lamina.errors import CommandNotExecutable, CommandNotFound, ContainerNotFound, ContainerRunning
from lamina.runtime import CrunRuntime, RuntimeStatus
from lamina.testing import probes

pytestmark = [
    pytest.mark.runtime,
    pytest.mark.root,
    pytest.mark.skipif(probes.root() is not None, reason=str(probes.root())),
    pytest.mark.skipif(probes.crun() is not None, reason=str(probes.crun())),
    pytest.mark.skipif(probes.busybox() is not None, reason=str(probes.busybox())),
    pytest.mark.timeout(120),
]

APPLETS = ("sh", "echo", "true", "false", "sleep", "hostname", "cat", "id", "ps", "uname", "dd", "head")
IMAGE = {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/"}


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bbrootfs") / "rootfs"
    (root / "bin").mkdir(parents=True)
    for d in ("etc", "proc", "sys", "dev", "tmp"):
        (root / d).mkdir()
    shutil.copy(str(probes.busybox_path()), root / "bin" / "busybox")
    for name in APPLETS:
        (root / "bin" / name).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    (root / "bin" / "notexec").write_text("#!/bin/sh\necho no\n")
    (root / "bin" / "notexec").chmod(0o644)
    return root


class Harness:
    def __init__(self, rootfs: Path, tmp: Path) -> None:
        self.rootfs, self.tmp = rootfs, tmp
        self.runtime = CrunRuntime(state_root=tmp / "state")
        self.ids: list[str] = []

    def bundle(self, opts: RunOptions, image: dict | None = None) -> tuple[str, Path]:
        cid = "lt" + uuid.uuid4().hex[:16]
        self.ids.append(cid)
        bundle = self.tmp / cid
        etc = bundle / "etc"
        write_etc_files(etc, opts.hostname or cid[:12], opts.network)
        config = build_runtime_config(image or IMAGE, opts, self.rootfs, container_id=cid, etc_files=etc)
        (bundle / "config.json").write_text(json.dumps(config))
        return cid, bundle

    def run(self, *args: str, **kw: object) -> tuple[int, str, str]:
        keep = bool(kw.pop("keep", False))
        cid, bundle = self.bundle(RunOptions(args=args, **kw))  # type: ignore[arg-type]
        out, err = self.tmp / f"{cid}.out", self.tmp / f"{cid}.err"
        with open(out, "wb") as o, open(err, "wb") as e, open(os.devnull, "rb") as i:
            code = self.runtime.run(cid, bundle, stdio=(i.fileno(), o.fileno(), e.fileno()), keep=keep)
        return code, out.read_text(), err.read_text()

    def cleanup(self) -> None:
        known = {s.id for s in self.runtime.list()}
        for cid in self.ids:
            if cid in known:
                self.runtime.delete(cid, force=True)


@pytest.fixture
def h(rootfs: Path, tmp_path: Path):
    harness = Harness(rootfs, tmp_path)
    yield harness
    harness.cleanup()


def test_echo_output_and_status(h):
    assert h.run("echo", "hi")[:2] == (0, "hi\n")


@pytest.mark.parametrize(("args", "code"), [(("false",), 1), (("sh", "-c", "exit 7"), 7)])
def test_exit_status(h, args, code):
    assert h.run(*args)[0] == code


def test_kernel_is_the_hosts(h):
    assert h.run("uname", "-r")[1].strip() == platform.release()


def test_process_is_pid_1(h):
    assert h.run("sh", "-c", "echo $$")[1].strip() == "1"


def test_hostname_set(h):
    assert h.run("hostname", hostname="boxy")[1].strip() == "boxy"
    assert h.run("cat", "/etc/hostname", hostname="boxy")[1].strip() == "boxy"


def test_env_has_hostname_and_path(h):
    out = h.run("sh", "-c", "echo $HOSTNAME:$PATH:$HOME", hostname="envy")[1]
    assert out.strip() == "envy:/bin:/root"


def test_missing_command_is_command_not_found(h):
    with pytest.raises(CommandNotFound) as info:
        h.run("nosuchcmd")
    assert info.value.exit_code == 127
    assert "nosuchcmd" in str(info.value)


def test_non_executable_file_is_command_not_executable(h):
    with pytest.raises(CommandNotExecutable) as info:
        h.run("/bin/notexec")
    assert info.value.exit_code == 126


def test_missing_command_with_keep_path(h):
    with pytest.raises(CommandNotFound):
        h.run("nosuchcmd", keep=True)


def test_memory_limit_oom_kill(h):
    hog = "x=0123456789abcdef; while true; do x=$x$x; done"
    code, _, _ = h.run("sh", "-c", hog, memory=32 * 1024 * 1024, keep=True)
    cid = h.ids[-1]
    assert code == 137
    assert h.runtime.oom_killed(cid) is True
    h.runtime.delete(cid)


def test_no_oom_without_pressure(h):
    code, _, _ = h.run("true", memory=32 * 1024 * 1024, keep=True)
    assert code == 0
    assert h.runtime.oom_killed(h.ids[-1]) is False


def test_pids_limit_enforced(h):
    script = "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait"
    _, _, err = h.run("sh", "-c", script, pids_limit=4)
    assert "can't fork" in err
    _, _, err = h.run("sh", "-c", script)
    assert "can't fork" not in err


def test_nofile_limit_clamped_to_hard_limit(h):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    expected = 1048576 if hard == resource.RLIM_INFINITY else min(1048576, hard)
    assert h.run("sh", "-c", "ulimit -n")[1].strip() == str(expected)


def test_detached_lifecycle(h):
    rt = h.runtime
    cid, bundle = h.bundle(RunOptions(args=("sleep", "30")))
    rt.create(cid, bundle, pid_file=h.tmp / "pid")
    state = rt.state(cid)
    assert state.status is RuntimeStatus.CREATED and state.pid > 0
    assert int((h.tmp / "pid").read_text()) == state.pid
    rt.start(cid)
    assert rt.state(cid).status is RuntimeStatus.RUNNING
    assert cid in {s.id for s in rt.list()}
    assert rt.exec(cid, {"args": ["sh", "-c", "exit 3"], "cwd": "/", "env": ["PATH=/bin"]}) == 3
    with pytest.raises(ContainerRunning):
        rt.delete(cid)
    rt.kill(cid, signal.SIGKILL)
    for _ in range(100):
        if rt.state(cid).status is RuntimeStatus.STOPPED:
            break
        time.sleep(0.02)
    assert rt.state(cid).status is RuntimeStatus.STOPPED
    rt.delete(cid)
    with pytest.raises(ContainerNotFound):
        rt.state(cid)


def test_run_detached_then_kill(h):
    cid, bundle = h.bundle(RunOptions(args=("sleep", "30")))
    assert h.runtime.run(cid, bundle, detach=True) == 0
    assert h.runtime.state(cid).status is RuntimeStatus.RUNNING
    h.runtime.delete(cid, force=True)


def test_version():
    assert CrunRuntime(state_root=Path("/tmp/unused")).version().startswith("crun ")
