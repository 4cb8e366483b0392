"""Black-box container lifecycle tests: `python -m lamina --root <tmp> run|ps|stop|rm|…` with real crun.

Needs root, crun and busybox-static; skipped with the probe's reason otherwise. One root per
module (busybox imported once) keeps the suite fast; every test removes its containers.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lamina.testing import probes

pytestmark = [
    pytest.mark.root, pytest.mark.runtime,
    pytest.mark.skipif(probes.root() is not None, reason=str(probes.root())),
    pytest.mark.skipif(probes.crun() is not None, reason=str(probes.crun())),
    pytest.mark.skipif(probes.busybox() is not None, reason=str(probes.busybox())),
    pytest.mark.timeout(120),
]


@dataclass
class Result:
    code: int
    out: str
    err: str


class CLI:
    def __init__(self, root: Path, driver: str) -> None:
        self.root, self.driver = root, driver

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "lamina", "--root", str(self.root), "--storage-driver", self.driver, *args]

    def __call__(self, *args: str, input: bytes | None = None) -> Result:
        proc = subprocess.run(self.argv(*args), input=input, capture_output=True, timeout=90, check=False)
        return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))

    def ok(self, *args: str, input: bytes | None = None) -> str:
        res = self(*args, input=input)
        assert res.code == 0, f"lamina {' '.join(args)} exited {res.code}: {res.err}"
        return res.out

    def clean(self) -> None:
        ids = self("ps", "-aq", "--no-trunc").out.split()
        if ids:
            self("rm", "-f", "-v", *ids)


def _mounts_under(root: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(root))]


def _make_cli(tmp: Path, busybox_tar: Path, driver: str):
    cli = CLI(tmp / "root", driver)
    cli.ok("import", "-c", 'CMD ["/bin/sh"]', "-c", "VOLUME /data-vol", str(busybox_tar), "busybox:latest")
    yield cli
    cli.clean()
    for target in reversed(_mounts_under(cli.root)):
        subprocess.run(["umount", "-l", target], check=False)


@pytest.fixture(scope="module")
def cli(tmp_path_factory, busybox_tar: Path):
    driver = "overlay" if probes.overlay() is None else "copy"
    yield from _make_cli(tmp_path_factory.mktemp("ctr"), busybox_tar, driver)


@pytest.fixture(scope="module")
def copy_cli(tmp_path_factory, busybox_tar: Path):
    yield from _make_cli(tmp_path_factory.mktemp("ctrcopy"), busybox_tar, "copy")


@pytest.fixture(autouse=True)
def _clean_after(request):
    yield
    for name in ("cli", "copy_cli"):
        if name in request.fixturenames:
            request.getfixturevalue(name).clean()


def _inspect(cli: CLI, name: str) -> dict:
    return json.loads(cli.ok("inspect", name))[0]


# ---------------------------------------------------------------- run and exit codes
def test_run_exit_status_and_output(cli):
    res = cli("run", "--name", "st", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (res.code, res.out, res.err) == (3, "out\n", "err\n")
    info = _inspect(cli, "st")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 3
    assert info["Name"] == "/st" and info["Path"] == "sh"
    assert cli.ok("logs", "st") == "out\n"
    assert cli("logs", "st").err == "err\n"


def test_bad_input_exit_codes(cli):
    missing = cli("run", "--rm", "--pull", "never", "nosuchimage", "true")   # no registry pull offline
    assert missing.code == 125 and "no such image" in missing.err
    assert cli("run", "--rm", "busybox", "nosuchcmd").code == 127
    assert cli("run", "--rm", "busybox", "/etc/passwd").code == 126
    bad = cli("run", "--rm", "-v", "a:b:c:d", "busybox", "true")
    assert bad.code == 125 and "a:b:c:d" in bad.err
    assert cli.ok("ps", "-aq") == ""


def test_name_in_use(cli):
    cli.ok("create", "--name", "dup", "busybox", "true")
    res = cli("create", "--name", "dup", "busybox", "true")
    assert res.code == 125
    assert 'the name "/dup" is already in use by container' in res.err
    assert len(cli.ok("ps", "-aq").split()) == 1


def test_rm_running_needs_force(cli):
    cli.ok("run", "-d", "--name", "busy", "busybox", "sleep", "60")
    res = cli("rm", "busy")
    assert res.code == 1 and "container is running" in res.err
    assert cli.ok("rm", "-f", "busy").strip() == "busy"
    assert cli.ok("ps", "-aq") == ""


# ---------------------------------------------------------------- isolation
def test_isolation_kernel_pid_hostname_namespaces(cli):
    script = ("uname -r; echo $$; hostname; for n in uts ipc mnt pid; do "
              "ls -l /proc/self/ns/$n | sed 's/.*-> //'; done")
    out = cli.ok("run", "--rm", "-h", "box1", "busybox", "sh", "-c", script).split()
    assert out[0] == os.uname().release
    assert out[1] == "1"
    assert out[2] == "box1"
    for kind, inside in zip(("uts", "ipc", "mnt", "pid"), out[3:], strict=True):
        assert inside != os.readlink(f"/proc/self/ns/{kind}")


@pytest.mark.skipif(not any(os.path.exists(p) for p in ("/etc/containers/seccomp.json",
                                                         "/usr/share/containers/seccomp.json")),
                    reason="no default seccomp profile on this host (golang-github-containers-common)")
def test_default_seccomp_profile_unless_unconfined_or_privileged(cli):
    def mode(*flags: str) -> str:
        out = cli.ok("run", "--rm", *flags, "busybox", "grep", "Seccomp:", "/proc/self/status")
        return out.split()[1]
    assert mode() == "2"  # a filter is loaded
    assert mode("--security-opt", "seccomp=unconfined") == "0"
    assert mode("--privileged") == "0"
    bad = cli("run", "--rm", "--security-opt", "seccomp=/nonexistent.json", "busybox", "true")
    assert bad.code == 125 and "opening seccomp profile (/nonexistent.json) failed" in bad.err
    assert list((cli.root / "run" / "seccomp").glob("*.bpf"))  # compiled once, for crun to load


def test_memory_limit_oom_killed(cli):
    res = cli("run", "--name", "hog", "--memory", "32m", "busybox", "sh", "-c",
              "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done")
    assert res.code == 137
    state = _inspect(cli, "hog")["State"]
    assert state["OOMKilled"] is True and state["ExitCode"] == 137


def test_pids_limit(cli):
    res = cli("run", "--rm", "--pids-limit", "5", "busybox", "sh", "-c",
              "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait")
    assert "can't fork" in res.err


def test_devices_host_namespaces_and_sysctls(cli, tmp_path):
    import socket
    shm = Path("/dev/shm") / f"lamina-test-{os.getpid()}"
    shm.write_text("from the host")
    try:
        out = cli.ok("run", "--rm", "--device", "/dev/null:/dev/mynull:rw", "--uts", "host", "--ipc", "host",
                     "--pid", "host", "busybox", "sh", "-c",
                     f"ls -l /dev/mynull; echo x > /dev/mynull && echo wrote; hostname; cat {shm}; echo; echo $$")
    finally:
        shm.unlink()
    lines = out.splitlines()
    assert lines[0].startswith("crw-rw-rw-") and "1,   3" in lines[0]
    assert lines[1:4] == ["wrote", socket.gethostname(), "from the host"]
    assert lines[4] != "1"   # the host's pid namespace: the shell is not its init
    own = cli.ok("run", "--rm", "--sysctl", "kernel.shmmax=123456", "--sysctl", "net.ipv4.ip_forward=1",
                 "busybox", "sh", "-c", "cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward; echo $$")
    assert own.split() == ["123456", "1", "1"]


def test_resource_flags_reach_the_cgroup(cli):
    out = cli.ok("run", "--rm", "-c", "512", "--cpuset-cpus", "0", "-m", "64m", "--memory-swap", "128m",
                 "--memory-reservation", "32m", "busybox", "sh", "-c",
                 "cd /sys/fs/cgroup && cat cpu/cpu.shares cpuset/cpuset.cpus memory/memory.limit_in_bytes "
                 "memory/memory.soft_limit_in_bytes; cat memory/memory.memsw.limit_in_bytes 2>/dev/null || true")
    values = out.split()
    assert values[:4] == ["512", "0", str(64 << 20), str(32 << 20)]
    assert values[4:] in ([], [str(128 << 20)])   # memsw exists only with swap accounting


def test_labels_cidfile_and_group_add(cli, tmp_path):
    labels = tmp_path / "labels"
    labels.write_text("# team\ntier=back\nowner=ops\n")
    cidfile = tmp_path / "cid"
    cid = cli.ok("run", "-d", "--name", "lab", "--cidfile", str(cidfile), "--label-file", str(labels),
                 "-l", "tier=front", "-l", "flag", "--group-add", "10", "--group-add", "root", "busybox",
                 "sh", "-c", "id -G; sleep 30").strip()
    assert cidfile.read_text() == cid
    info = _inspect(cli, "lab")
    assert info["Config"]["Labels"] == {"tier": "front", "owner": "ops", "flag": ""}
    assert cli.ok("ps", "--filter", "label=tier=front", "--format", "{{.Names}}") == "lab\n"
    assert cli.ok("ps", "--filter", "label=flag", "-q") != ""
    assert cli.ok("ps", "--filter", "label=tier=back", "-q") == ""
    again = cli("create", "--cidfile", str(cidfile), "busybox", "true")
    assert again.code == 125 and "container ID file found" in again.err
    _wait_for(lambda: "10" in cli.ok("logs", "lab"))
    assert cli.ok("logs", "lab").split() == ["0", "10"]
    cli.ok("rm", "-f", "lab")
    assert cli.ok("ps", "-aq") == ""   # the create that found the cidfile made nothing


@pytest.mark.parametrize("args", [
    ("--device", "/nonexistent"), ("--device", "/etc/passwd"), ("--uts", "host", "-h", "x"),
    ("--pid", "container:x"), ("--sysctl", "vm.swappiness=1"), ("--memory-swap", "1g"),
    ("--cpuset-cpus", "3-1"), ("--group-add", "nosuchgroup"),
])
def test_bad_run_flags_leave_nothing(cli, args):
    res = cli("run", "--rm", *args, "busybox", "true")
    assert res.code == 125 and res.err.startswith("Error:")
    assert cli.ok("ps", "-aq") == ""


def _health(cli: CLI, name: str) -> dict:
    return _inspect(cli, name)["State"].get("Health") or {}


def test_health_cmd_starting_unhealthy_healthy(cli):
    cli.ok("run", "-d", "--name", "hc", "--health-cmd", "test -f /tmp/ok", "--health-interval", "300ms",
           "--health-retries", "2", "busybox", "sh", "-c", "sleep 1.5; touch /tmp/ok; sleep 30")
    assert _health(cli, "hc")["Status"] == "starting"
    assert "(health: starting)" in cli.ok("ps", "--format", "{{.Status}}")
    _wait_for(lambda: _health(cli, "hc").get("Status") == "unhealthy")
    assert cli.ok("ps", "--filter", "health=unhealthy", "--format", "{{.Names}} {{.Status}}").endswith("(unhealthy)\n")
    _wait_for(lambda: _health(cli, "hc").get("Status") == "healthy")
    health = _health(cli, "hc")
    assert health["FailingStreak"] == 0 and health["Log"][-1]["ExitCode"] == 0 and len(health["Log"]) <= 5
    assert cli.ok("ps", "--filter", "health=healthy", "-q") != ""
    assert _inspect(cli, "hc")["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "test -f /tmp/ok"]


def test_health_timeout_kills_the_probe_and_image_check_can_be_disabled(cli, tmp_path):
    cli.ok("run", "-d", "--name", "slow", "--health-cmd", "echo started; sleep 20", "--health-timeout", "200ms",
           "--health-interval", "1s", "--health-retries", "1", "busybox", "sleep", "30")
    _wait_for(lambda: _health(cli, "slow").get("Status") == "unhealthy")
    entry = _health(cli, "slow")["Log"][0]
    assert entry["ExitCode"] == -1 and "exceeded timeout" in entry["Output"]
    assert "sleep 20" not in cli.ok("exec", "slow", "ps")   # the probe was killed, not left running
    (tmp_path / "Dockerfile").write_text("FROM busybox\nHEALTHCHECK --interval=300ms CMD [\"true\"]\n")
    cli.ok("build", "-q", "-t", "hcimage", str(tmp_path))
    cli.ok("run", "-d", "--name", "byimage", "hcimage", "sleep", "30")
    cli.ok("run", "-d", "--name", "disabled", "--no-healthcheck", "hcimage", "sleep", "30")
    _wait_for(lambda: _health(cli, "byimage").get("Status") == "healthy")
    assert "Health" not in _inspect(cli, "disabled")["State"]
    assert _inspect(cli, "disabled")["Config"]["Healthcheck"] == {"Test": ["NONE"]}
    bad = cli("run", "--rm", "--health-interval", "10x", "busybox", "true")
    assert bad.code == 125 and "invalid duration" in bad.err
    cli.ok("rm", "-f", "byimage", "disabled", "slow")
    cli.ok("rmi", "hcimage")


def test_logs_since_and_until(cli):
    cli.ok("run", "--name", "timed", "busybox", "sh", "-c", "echo one; sleep 1; echo two")
    stamped = cli.ok("logs", "-t", "timed").splitlines()
    second = stamped[1].split()[0]
    assert cli.ok("logs", "--since", second, "timed") == "two\n"
    assert cli.ok("logs", "--until", second, "timed") == "one\n"
    assert cli.ok("logs", "--since", "1h", "timed") == "one\ntwo\n"
    assert cli.ok("logs", "--until", "1h", "timed") == ""
    bad = cli("logs", "--since", "yesterday", "timed")
    assert bad.code != 0 and "--since" in bad.err


def test_update_running_and_stopped(cli):
    cli.ok("run", "-d", "--name", "upd", "-m", "64m", "busybox", "sleep", "30")
    assert cli.ok("update", "-m", "128m", "--cpus", "0.5", "--pids-limit", "50", "--restart", "on-failure:2",
                  "upd") == "upd\n"
    values = cli.ok("exec", "upd", "sh", "-c", "cd /sys/fs/cgroup && cat memory/memory.limit_in_bytes "
                    "cpu/cpu.cfs_quota_us pids/pids.max").split()
    assert values == [str(128 << 20), "50000", "50"]
    host = _inspect(cli, "upd")["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (128 << 20, 500_000_000, 50)
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    bad = cli("update", "--memory-swap", "64m", "upd")
    assert bad.code == 1 and "memoryswap" in bad.err
    assert cli("update", "upd").code != 0
    cli.ok("stop", "-t", "1", "upd")
    cli.ok("update", "-m", "96m", "upd")
    cli.ok("start", "upd")
    assert cli.ok("exec", "upd", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes").strip() == str(96 << 20)


def test_exec_env_file_host_env_and_privileged(cli, tmp_path, monkeypatch):
    cli.ok("run", "-d", "--name", "ex", "busybox", "sleep", "30")
    envs = tmp_path / "env"
    envs.write_text("A=1\n# comment\nB=two\n")
    monkeypatch.setenv("FROM_HOST", "hv")
    out = cli.ok("exec", "--env-file", str(envs), "-e", "FROM_HOST", "-e", "B=three", "ex", "sh", "-c",
                 "echo $A $B $FROM_HOST")
    assert out == "1 three hv\n"
    def caps(*flags: str) -> int:
        line = cli.ok("exec", *flags, "ex", "grep", "CapEff", "/proc/self/status")
        return int(line.split()[1], 16)
    assert caps("--privileged") > caps() and caps("--privileged") & (1 << 21)   # CAP_SYS_ADMIN
    assert not caps() & (1 << 21)


def test_log_rotation_follow_and_driver_none(cli):
    cid = cli.ok("run", "-d", "--name", "rot", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "busybox",
                 "sh", "-c", "sleep 0.5; i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); usleep 10000; done")
    followed = cli.ok("logs", "-f", "rot").split()
    assert followed == [f"line-{i}" for i in range(100)]   # every line, across the renames
    kept = cli.ok("logs", "rot").split()
    assert kept and kept[-1] == "line-99" and len(kept) < 100
    assert kept == followed[-len(kept):]
    record = cli.root / "containers" / cid.strip()
    files = [p for p in record.iterdir() if p.name.startswith("container.log")]
    assert len(files) == 3 and all(f.stat().st_size <= 1024 for f in files)
    assert _inspect(cli, "rot")["HostConfig"]["LogConfig"] == {"Type": "json-file",
                                                                "Config": {"max-size": "1k", "max-file": "3"}}
    cli.ok("run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi")
    res = cli("logs", "quiet")
    assert res.code != 0 and "does not support reading" in res.err
    assert cli("run", "--rm", "--log-opt", "foo=1", "busybox", "true").code == 125
    assert cli("run", "--rm", "--log-opt", "max-file=2", "busybox", "true").code == 125


def test_prune_filters(cli):
    cli.ok("create", "--name", "keep", "-l", "keep=yes", "busybox", "true")
    cli.ok("create", "--name", "drop", "busybox", "true")
    cli.ok("volume", "create", "--label", "keep=yes", "kv")
    cli.ok("volume", "create", "dv")
    assert cli.ok("container", "prune", "-f", "--filter", "until=1h") == "Total reclaimed space: 0B\n"
    out = cli.ok("container", "prune", "-f", "--filter", "label!=keep")
    assert "Deleted Containers:" in out and cli.ok("ps", "-a", "--format", "{{.Names}}") == "keep\n"
    assert "kv" not in cli.ok("volume", "prune", "-af", "--filter", "label!=keep=yes")
    volumes = cli.ok("volume", "ls", "-q").split()
    assert "kv" in volumes and "dv" not in volumes
    bad = cli("container", "prune", "-f", "--filter", "bogus=1")
    assert bad.code != 0 and "invalid filter 'bogus=1'" in bad.err
    assert cli("volume", "prune", "-f", "--filter", "until=1h").code != 0   # docker has no until for volumes
    cli.ok("volume", "rm", "kv")


def test_volumes_from_domainname_and_platform(cli, tmp_path):
    (tmp_path / "host").mkdir()
    cli.ok("run", "--name", "src", "-v", "/anon", "-v", "vf-named:/named", "-v", f"{tmp_path / 'host'}:/bound",
           "--tmpfs", "/scratch", "busybox", "sh", "-c", "echo a > /anon/f; echo n > /named/f; echo b > /bound/f")
    out = cli.ok("run", "--rm", "--volumes-from", "src", "busybox", "sh", "-c",
                 "cat /anon/f /named/f /bound/f; mountpoint -q /scratch && echo tmpfs || echo no-tmpfs")
    assert out == "a\nn\nb\nno-tmpfs\n"   # volumes and binds, not the tmpfs
    ro = cli("run", "--rm", "--volumes-from", "src:ro", "busybox", "touch", "/anon/g")
    assert ro.code != 0 and "Read-only" in ro.err
    cli.ok("run", "--name", "user", "--volumes-from", "src", "busybox", "true")
    anon = next(m["Name"] for m in _inspect(cli, "src")["Mounts"] if m["Destination"] == "/anon")
    cli.ok("rm", "-v", "src")
    assert anon in cli.ok("volume", "ls", "-q").split()   # still used by "user": rm -v keeps it
    assert cli.ok("run", "--rm", "--volumes-from", "user", "busybox", "cat", "/anon/f") == "a\n"
    cli.ok("rm", "-v", "user")
    cli.ok("volume", "rm", "vf-named", anon)
    assert cli.ok("run", "--rm", "--domainname", "corp.example", "busybox", "cat",
                  "/proc/sys/kernel/domainname") == "corp.example\n"
    assert cli("run", "--rm", "--platform", "linux/s390x", "busybox", "true").code == 125
    assert "no such container" in cli("run", "--rm", "--volumes-from", "nope", "busybox", "true").err


def test_events_record_what_happened(cli):
    start = time.time() - 1
    cli.ok("run", "--name", "evt", "busybox", "true")
    cli.ok("rename", "evt", "evt2")
    cli.ok("rm", "evt2")
    out = cli.ok("events", "--since", str(start), "--until", "0s", "--filter", "type=container",
                 "--format", "{{.Status}} {{.Actor.Attributes.name}}")
    assert out.splitlines()[-5:] == ["create evt", "start evt", "die evt", "rename evt2", "destroy evt2"]
    died = cli.ok("events", "--since", str(start), "--until", "0s", "--filter", "event=die")
    assert "container die" in died and "exitCode=0" in died
    assert cli("events", "--filter", "bogus=1").code != 0


def test_restart_signal_ps_before_since_and_foreground_health(cli, tmp_path):
    cli.ok("run", "-d", "--name", "sig", "busybox", "sh", "-c", "trap 'echo got-usr1; exit 0' USR1; "
           "while true; do sleep 0.1; done")
    cli.ok("restart", "-s", "USR1", "-t", "5", "sig")
    _wait_for(lambda: "got-usr1" in cli.ok("logs", "sig"))
    assert _inspect(cli, "sig")["State"]["Running"]
    cli.ok("stop", "-s", "USR1", "sig")
    assert _inspect(cli, "sig")["State"]["ExitCode"] == 0
    for name in ("p1", "p2", "p3"):
        cli.ok("create", "--name", name, "busybox", "true")
    assert cli.ok("ps", "-a", "--filter", "before=p2", "--filter", "name=p", "--format", "{{.Names}}") == "p1\n"
    assert cli.ok("ps", "-a", "--filter", "since=p2", "--format", "{{.Names}}") == "p3\n"
    probes = tmp_path / "probes"
    probes.mkdir()
    cli.ok("run", "--rm", "-v", f"{probes}:/probes", "--health-cmd", "echo probe >> /probes/log",
           "--health-interval", "200ms", "busybox", "sleep", "1.2")
    assert (probes / "log").read_text().count("probe") >= 3   # the run process probed it


def test_security_opts(cli):
    masked = 'grep -cE " /proc/(keys|timer_list|sys) " /proc/self/mountinfo || true'
    assert cli.ok("run", "--rm", "busybox", "sh", "-c", masked) == "3\n"
    assert cli.ok("run", "--rm", "--security-opt", "systempaths=unconfined", "busybox", "sh", "-c", masked) == "0\n"
    out = cli.ok("run", "--rm", "--security-opt", "label=disable", "--security-opt", "apparmor=unconfined",
                 "--security-opt", "no-new-privileges:true", "busybox", "grep", "NoNewPrivs", "/proc/self/status")
    assert out.split() == ["NoNewPrivs:", "1"]
    bad = cli("run", "--rm", "--security-opt", "bogus", "busybox", "true")
    assert bad.code == 125 and 'invalid --security-opt: "bogus"' in bad.err


def test_inspect_finds_volumes_and_networks(cli):
    cli.ok("volume", "create", "insp")
    assert cli.ok("inspect", "-f", "{{.Name}} {{.Driver}}", "insp", "bridge") == "insp local\nbridge bridge\n"
    assert cli.ok("inspect", "--type", "network", "-f", "{{.Name}}", "none") == "none\n"
    assert cli("inspect", "--type", "volume", "bridge").code == 1
    missing = cli("inspect", "nope:1")
    assert missing.code == 1 and "No such object: nope:1" in missing.err
    cli.ok("volume", "rm", "insp")


# ---------------------------------------------------------------- copy-on-write and volumes
def test_rw_layer_gone_after_rm_volume_persists(cli):
    cli.ok("run", "--name", "w1", "-v", "keep:/data", "busybox", "sh", "-c",
           "echo layer > /in-layer; echo vol > /data/f")
    cli.ok("rm", "w1")
    out = cli("run", "--rm", "-v", "keep:/data", "busybox", "sh", "-c", "cat /data/f; cat /in-layer")
    assert out.out == "vol\n" and "No such file" in out.err
    assert "keep" in cli.ok("volume", "ls")
    res = cli("volume", "rm", "keep")
    assert res.code == 0


def test_image_volume_anonymous_removed_with_rm_v(cli):
    cid = cli.ok("create", "--name", "anon", "busybox", "true").strip()
    mounts = _inspect(cli, cid)["Mounts"]
    assert [m["Destination"] for m in mounts] == ["/data-vol"]
    name = mounts[0]["Name"]
    assert len(name) == 64
    assert cli("volume", "rm", name).code == 1  # in use
    cli.ok("rm", "-v", "anon")
    assert name not in cli.ok("volume", "ls", "-q")


def test_bind_mount_read_only(cli, tmp_path):
    (tmp_path / "f").write_text("host\n")
    assert cli.ok("run", "--rm", "-v", f"{tmp_path}:/h:ro", "busybox", "cat", "/h/f") == "host\n"
    res = cli("run", "--rm", "--mount", f"type=bind,source={tmp_path},target=/h,readonly",
              "busybox", "sh", "-c", "echo x > /h/g")
    assert res.code != 0 and not (tmp_path / "g").exists()


def test_diff_commit_runs_with_whiteout(cli):
    cli.ok("run", "--name", "cm", "busybox", "sh", "-c",
           "echo hi > /new; rm /etc/motd; echo x >> /etc/passwd")
    diff = cli.ok("diff", "cm").splitlines()
    assert {"A /new", "D /etc/motd", "C /etc/passwd", "C /etc"} <= set(diff)
    image_id = cli.ok("commit", "-m", "msg", "-c", 'CMD ["cat", "/new"]', "cm", "committed:v1").strip()
    assert image_id.startswith("sha256:")
    assert cli.ok("run", "--rm", "committed:v1") == "hi\n"
    res = cli("run", "--rm", "committed:v1", "cat", "/etc/motd")
    assert res.code == 1
    saved = cli.root.parent / "committed.tar"
    cli.ok("save", "-o", str(saved), "committed:v1")
    with tarfile.open(saved) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
        top = outer.extractfile(manifest["Layers"][-1])
        assert top is not None
        with tarfile.open(fileobj=top, mode="r|*") as layer:
            names = sorted(m.name for m in layer)
    assert names == ["etc", "etc/.wh.motd", "etc/passwd", "new"]
    cli.ok("rm", "cm")
    cli.ok("rmi", "committed:v1")


def test_cp_both_ways_and_export(cli, tmp_path):
    cli.ok("create", "--name", "cpc", "busybox", "true")
    (tmp_path / "in.txt").write_text("from host\n")
    cli.ok("cp", str(tmp_path / "in.txt"), "cpc:/tmp/")
    cli.ok("cp", "cpc:/tmp/in.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "from host\n"
    cli.ok("cp", "cpc:/etc", str(tmp_path / "etc-copy"))
    assert (tmp_path / "etc-copy" / "passwd").exists()
    assert "A /tmp/in.txt" in cli.ok("diff", "cpc").splitlines()
    # a symlink in the image pointing at / must not let cp write on the host
    res = cli("cp", str(tmp_path / "in.txt"), "cpc:/bin/sh")
    assert not Path("/bin/busybox").read_bytes().startswith(b"from host")
    assert res.code in (0, 1)
    exported = subprocess.run(cli.argv("export", "cpc"), capture_output=True, check=True).stdout
    tar_path = tmp_path / "exp.tar"
    tar_path.write_bytes(exported)
    with tarfile.open(tar_path) as tar:
        assert "tmp/in.txt" in tar.getnames() and "bin/busybox" in tar.getnames()


def test_cp_goes_through_volumes_binds_and_refuses_read_only(cli, tmp_path):
    """cp sees the container's mounts as the container does: the deepest volume holds a path."""
    host = tmp_path / "ro"
    host.mkdir()
    (tmp_path / "in.txt").write_text("from host\n")
    cli.ok("run", "-d", "--name", "mounts", "-v", "outer:/data", "-v", "inner:/data/sub",
           "-v", f"{host}:/ro:ro", "--tmpfs", "/scratch", "busybox", "sleep", "600")
    cli.ok("cp", str(tmp_path / "in.txt"), "mounts:/data/sub/x.txt")
    cli.ok("cp", str(tmp_path / "in.txt"), "mounts:/data/y.txt")
    assert cli.ok("exec", "mounts", "cat", "/data/sub/x.txt", "/data/y.txt") == "from host\nfrom host\n"
    cli.ok("exec", "mounts", "sh", "-c", "echo inside > /data/sub/z.txt && ln -s /ro /data/to-ro")
    cli.ok("cp", "mounts:/data/sub/z.txt", str(tmp_path / "z.txt"))
    assert (tmp_path / "z.txt").read_text() == "inside\n"
    for target in ("mounts:/ro/w.txt", "mounts:/data/to-ro/w.txt"):   # directly and through a symlink
        res = cli("cp", str(tmp_path / "in.txt"), target)
        assert res.code == 1 and "read-only" in res.err
    assert list(host.iterdir()) == []
    res = cli("cp", str(tmp_path / "in.txt"), "mounts:/scratch/")
    assert res.code == 1 and "tmpfs" in res.err
    out = tmp_path / "out"   # a directory copied out carries the volume mounted below it
    out.mkdir()
    cli.ok("cp", "mounts:/data", str(out))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "data", "data/sub", "data/sub/x.txt", "data/sub/z.txt", "data/to-ro", "data/y.txt"]
    stream = subprocess.run(cli.argv("cp", "mounts:/data/.", "-"), capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(stream)) as tar:
        assert {"sub/x.txt", "sub/z.txt"} <= set(tar.getnames())
    cli.ok("rm", "-f", "-v", "mounts")
    cli.ok("run", "--rm", "-v", "inner:/v", "busybox", "cat", "/v/x.txt")   # the data lives in the volume
    cli.ok("volume", "rm", "outer", "inner")


# ---------------------------------------------------------------- detached life
def test_detached_logs_exec_top_stop_escalates(cli):
    cid = cli.ok("run", "-d", "--name", "trap", "busybox", "sh", "-c",
                 "trap '' TERM; echo ready; while true; do sleep 0.2; done").strip()
    assert len(cid) == 64
    assert "Up " in cli.ok("ps", "--filter", "name=trap", "--format", "{{.Status}}")
    deadline = time.monotonic() + 10
    while cli.ok("logs", "trap") != "ready\n" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cli.ok("logs", "trap") == "ready\n"
    assert cli.ok("exec", "trap", "sh", "-c", "echo $((1+2))") == "3\n"
    assert cli("exec", "trap", "nosuch").code == 127
    top = cli.ok("top", "trap").splitlines()
    assert top[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert any("while true" in line for line in top[1:])
    start = time.monotonic()
    assert cli.ok("stop", "-t", "1", "trap").strip() == "trap"
    assert time.monotonic() - start >= 1
    assert _inspect(cli, "trap")["State"]["ExitCode"] == 137
    assert cli.ok("wait", "trap").strip() == "137"


def test_detached_echo_logs_and_rm_flag(cli):
    cli.ok("run", "-d", "--name", "echo1", "busybox", "echo", "hello")
    assert cli.ok("wait", "echo1").strip() == "0"
    assert cli.ok("logs", "echo1") == "hello\n"
    assert "hello" in cli.ok("logs", "-t", "echo1")
    cli.ok("run", "-d", "--rm", "--name", "gone", "busybox", "true")
    deadline = time.monotonic() + 10
    while "gone" in cli.ok("ps", "-a", "--format", "{{.Names}}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "gone" not in cli.ok("ps", "-a", "--format", "{{.Names}}")


def test_detached_tty_shell_stays_up_and_logs_the_terminal(cli):
    """docker's ``run -dit IMAGE sh`` idiom: the shell waits on its tty; output is logged with CRLF."""
    cli.ok("run", "-dit", "--name", "shell", "busybox", "sh")
    time.sleep(0.5)
    assert _inspect(cli, "shell")["State"]["Status"] == "running"
    assert _inspect(cli, "shell")["Config"]["Tty"] is True
    assert cli("exec", "shell", "tty").out == "not a tty\n"   # exec without -t gets no terminal
    assert cli.ok("exec", "shell", "sh", "-c", "ls -l /proc/1/fd/0").rstrip().endswith("/dev/pts/0")
    cli.ok("run", "-dt", "--name", "lines", "busybox", "sh", "-c", "echo one; echo two")
    assert cli.ok("wait", "lines").strip() == "0"
    assert cli.ok("logs", "lines") == "one\r\ntwo\r\n"
    assert cli.ok("stop", "-t", "1", "shell").strip() == "shell"
    assert _inspect(cli, "shell")["State"]["Status"] == "exited"


def test_pause_unpause_and_commit_of_a_running_container(cli):
    cli.ok("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
           "i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.05; done")
    assert cli.ok("pause", "ticker").strip() == "ticker"
    assert cli.ok("ps", "--format", "{{.Status}}").strip().endswith("(Paused)")
    assert _inspect(cli, "ticker")["State"]["Paused"] is True
    frozen = cli.ok("cp", "ticker:/count", "-")
    time.sleep(0.3)
    assert cli.ok("cp", "ticker:/count", "-") == frozen          # nothing runs while frozen
    assert cli("pause", "ticker").code == 1
    assert cli.ok("unpause", "ticker").strip() == "ticker"
    image = cli.ok("commit", "ticker", "ticked:1").strip()          # pauses and thaws around the snapshot
    assert image.startswith("sha256:")
    assert _inspect(cli, "ticker")["State"]["Status"] == "running"
    assert cli.ok("run", "--rm", "ticked:1", "sh", "-c", "test -e /count && echo counted") == "counted\n"
    cli.ok("pause", "ticker")
    assert cli.ok("stop", "-t", "1", "ticker").strip() == "ticker"   # a paused container still stops
    assert _inspect(cli, "ticker")["State"]["Status"] == "exited"
    assert cli("unpause", "ticker").code == 1
    cli.ok("rmi", "ticked:1")


def test_rename_running_and_stopped_containers(cli):
    cli.ok("run", "-d", "--name", "first", "busybox", "sleep", "60")
    cli.ok("create", "--name", "second", "busybox", "true")
    assert cli.ok("rename", "first", "renamed") == ""
    assert cli.ok("exec", "renamed", "echo", "alive") == "alive\n"
    assert _inspect(cli, "renamed")["Name"] == "/renamed"
    assert cli("inspect", "first").code == 1
    res = cli("rename", "renamed", "second")
    assert res.code == 1 and "already in use" in res.err
    assert cli("rename", "renamed", "renamed").code == 1
    cli.ok("create", "--name", "first", "busybox", "true")          # the old name is free again
    cli.ok("rm", "-f", "renamed", "second", "first")


def test_start_restart_kill(cli):
    cli.ok("create", "--name", "life", "busybox", "sh", "-c",
           "trap 'exit 143' TERM; while true; do sleep 0.2; done")
    assert "Created" in cli.ok("ps", "-a", "--format", "{{.Status}}")
    assert cli.ok("start", "life").strip() == "life"
    cli.ok("restart", "-t", "0", "life")
    assert _inspect(cli, "life")["State"]["Running"] is True
    cli.ok("kill", "-s", "TERM", "life")
    assert cli.ok("wait", "life").strip() == "143"
    res = cli("kill", "life")
    assert res.code == 1
    cli.ok("rm", "life")
    cli.ok("create", "--name", "att", "busybox", "echo", "attached")
    assert cli.ok("start", "-a", "att") == "attached\n"


def test_kill_9_of_cli_leaves_no_half_records(cli):
    for delay in (0.05, 0.3, 1.5):
        proc = subprocess.Popen(cli.argv("run", "--rm", "busybox", "sleep", "1"))
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 20
    while cli.ok("ps", "-aq") and time.monotonic() < deadline:  # each call reconciles
        time.sleep(0.3)
    records = [p.name for p in (cli.root / "containers").iterdir() if len(p.name) == 64]
    for cid in records:
        assert (cli.root / "containers" / cid / "config.json").exists()
        assert not (cli.root / "containers" / cid / "incomplete").exists()
    assert cli.ok("ps", "-aq") == ""
    assert _mounts_under(cli.root / "storage") == []


# ---------------------------------------------------------------- the copy driver
def test_copy_driver_run_diff_commit(copy_cli):
    copy_cli.ok("run", "--name", "c1", "busybox", "sh", "-c", "echo c > /c; rm /etc/motd")
    assert copy_cli.ok("diff", "c1").splitlines() == ["A /c", "C /etc", "D /etc/motd"]
    copy_cli.ok("commit", "c1", "cc:1")
    assert copy_cli.ok("run", "--rm", "cc:1", "cat", "/c") == "c\n"
    assert _inspect(copy_cli, "c1")["GraphDriver"]["Name"] == "copy"


def test_info_reports_driver_runtime_and_counts(tmp_path, busybox_tar):
    from lamina.testing.cli import Lamina
    cli = Lamina(tmp_path / "r", "copy")
    cli.ok("import", str(busybox_tar), "bb")
    out = cli.ok("info")
    assert "Images: 1" in out and "Storage Driver: copy" in out and "Containers: 0" in out
    assert cli.ok("info", "--format", "{{.Driver}} {{.Images}}").strip() == "copy 1"


# ---------------------------------------------------------------- attach
def test_attach_gets_live_output_split_by_stream_and_the_exit_status(cli):
    cli.ok("run", "-d", "--name", "att1", "busybox", "sh", "-c", "sleep 0.6; echo out; echo err >&2; exit 3")
    first = subprocess.Popen(cli.argv("attach", "att1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    second = subprocess.Popen(cli.argv("attach", "att1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for client in (first, second):  # every attached client sees the output
        out, err = client.communicate(timeout=30)
        assert (client.returncode, out, err) == (3, b"out\n", b"err\n")
    assert cli.ok("logs", "att1") == "out\n"  # and the log still has it


def test_attach_feeds_stdin_of_an_interactive_container(cli):
    cli.ok("run", "-di", "--name", "att2", "busybox", "sh", "-c", "read x; echo got $x")
    res = cli("attach", "att2", input=b"hello\n")
    assert (res.code, res.out) == (0, "got hello\n")
    stopped = cli("attach", "att2")
    assert stopped.code == 1 and "cannot attach to container att2: it is exited" in stopped.err


def test_attach_to_a_tty_container_and_no_stdin(cli):
    cli.ok("run", "-dit", "--name", "att3", "busybox", "sh")
    res = cli("attach", "att3", input=b"echo from-tty\nexit 5\n")
    assert res.code == 5 and "from-tty" in res.out
    cli.ok("run", "-dit", "--name", "att4", "busybox", "sh", "-c", "sleep 0.5; echo ignored-stdin")
    res = cli("attach", "--no-stdin", "att4", input=b"exit 9\n")
    assert res.code == 0 and "ignored-stdin" in res.out


def test_detach_keys_syntax():
    from lamina.cli.commands.attach import parse_detach_keys
    from lamina.errors import InvalidOption
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("ctrl-a,x,ctrl-@,ctrl-[") == b"\x01x\x00\x1b"
    with pytest.raises(InvalidOption, match="unknown key 'ctrl-pp'"):
        parse_detach_keys("ctrl-pp")


def test_detach_keys_leave_a_tty_container_running(cli):
    import pty
    cli.ok("run", "-dit", "--name", "att5", "busybox", "sh")
    master, slave = pty.openpty()
    try:
        client = subprocess.Popen(cli.argv("attach", "att5"), stdin=slave, stdout=slave, stderr=subprocess.PIPE)
        time.sleep(0.5)
        os.write(master, b"\x10\x11")
        _, err = client.communicate(timeout=20)
    finally:
        os.close(master)
        os.close(slave)
    assert client.returncode == 0 and b"read escape sequence" in err
    assert _inspect(cli, "att5")["State"]["Running"] is True


@pytest.mark.skipif(not any(shutil.which(n) for n in ("docker-init", "tini-static", "catatonit")),
                    reason="no static init on this host (apt-get install tini)")
def test_init_is_pid_1_forwards_stop_and_keeps_the_status(cli):
    res = cli("run", "--rm", "--init", "busybox", "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; exit 3")
    assert res.code == 3 and res.out.startswith("/dev/init -- sh -c")
    assert cli("run", "--rm", "--init", "busybox", "nosuchcmd").code == 127
    cli.ok("run", "-d", "--name", "inited", "--init", "busybox", "sleep", "60")
    started = time.monotonic()
    cli.ok("stop", "-t", "20", "inited")   # sleep as PID 1 would ignore SIGTERM; under the init it ends
    assert time.monotonic() - started < 10
    info = _inspect(cli, "inited")
    assert (info["Path"], info["Args"], info["State"]["ExitCode"]) == ("sleep", ["60"], 143)
    assert info["HostConfig"]["Init"] is True


def test_stats_reads_cpu_memory_and_pids_of_running_containers(cli):
    cli.ok("run", "-d", "--name", "busy", "--memory", "64m", "busybox", "sh", "-c", "while :; do :; done")
    cli.ok("run", "-d", "--name", "idle", "busybox", "sleep", "60")
    fmt = "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}"
    rows = {line.split()[0]: line.split() for line in cli.ok("stats", "--no-stream", "--format", fmt).splitlines()}
    assert set(rows) == {"busy", "idle"}
    assert float(rows["busy"][1].rstrip("%")) > 20 and float(rows["idle"][1].rstrip("%")) < 20
    assert rows["busy"][4] == "64MiB" and rows["idle"][4] != "64MiB"   # usage / limit
    assert rows["busy"][5] == "1"
    table = cli.ok("stats", "--no-stream", "idle").splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%",
                                "NET", "I/O", "BLOCK", "I/O", "PIDS"] and len(table) == 2
    cli.ok("stop", "-t", "0", "busy")
    assert "busy" not in cli.ok("stats", "--no-stream")   # only running ones, unless -a
    assert "busy" in cli.ok("stats", "--no-stream", "-a")


# ---------------------------------------------------------------- restart policies
def _wait_for(predicate, seconds=15.0):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.1)
    return predicate()


def test_restart_on_failure_counts_and_gives_up(cli):
    cli.ok("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3")
    assert _wait_for(lambda: _inspect(cli, "flaky")["State"]["Status"] == "exited"
                     and _inspect(cli, "flaky")["RestartCount"] == 2)
    info = _inspect(cli, "flaky")
    assert info["State"]["ExitCode"] == 3 and info["HostConfig"]["RestartPolicy"] == {
        "Name": "on-failure", "MaximumRetryCount": 2}
    assert cli.ok("logs", "flaky") == "run\nrun\nrun\n"
    cli.ok("run", "-d", "--name", "fine", "--restart", "on-failure", "busybox", "true")
    assert _wait_for(lambda: _inspect(cli, "fine")["State"]["Status"] == "exited")
    assert _inspect(cli, "fine")["RestartCount"] == 0   # exit 0 is not a failure


def test_restart_always_until_stopped_and_again_after_start(cli):
    cli.ok("run", "-d", "--name", "loop", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2")
    assert _wait_for(lambda: _inspect(cli, "loop")["RestartCount"] >= 2)
    cli.ok("stop", "-t", "1", "loop")
    stopped = _inspect(cli, "loop")
    time.sleep(1.0)
    after = _inspect(cli, "loop")
    assert stopped["State"]["Status"] == after["State"]["Status"] == "exited"
    assert after["RestartCount"] == stopped["RestartCount"]   # a stop is not undone
    cli.ok("start", "loop")
    assert _wait_for(lambda: _inspect(cli, "loop")["RestartCount"] > after["RestartCount"])
    cli.ok("rm", "-f", "loop")
    assert "loop" not in cli.ok("ps", "-a", "--format", "{{.Names}}")


def test_restart_policy_errors(cli):
    for args, words in ((("--rm", "--restart", "always"), "cannot specify both --restart and --rm"),
                        (("--restart", "always"), "--restart needs -d"),
                        (("-d", "--restart", "sometimes"), "invalid restart policy 'sometimes'"),
                        (("-d", "--restart", "on-failure:x"), "invalid restart policy format"),
                        (("-d", "--restart", "always:2"), "maximum retry count cannot be used")):
        res = cli("run", *args, "busybox", "true")
        assert res.code == 125 and words in res.err, (args, res.err)
