"""container.ocispec: docker-compatible runtime config from image config + run options (no root)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamina.container.ocispec import (
    DEFAULT_CAPS,
    DEFAULT_PATH,
    MASKED_PATHS,
    HostFacts,
    MountSpec,
    RunOptions,
    build_env,
    build_runtime_config,
    replace_or_append_env,
    resolve_args,
    resolve_user,
    write_etc_files,
)
from lamina.errors import InvalidOption

HOST = HostFacts(hard_limits={"RLIMIT_NOFILE": 20000}, bounding_caps=None, hostname="hosty")
CID = "0123456789abcdef0123"


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n# comment\n"
        "bob:x:1001:1001::/home/bob:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\nalice:x:1000:\nstaff:x:50:alice,bob\nwheel:x:10:root\n")
    return root


def config(rootfs, tmp_path, image=None, host=HOST, **kw):
    image = {"Cmd": ["/bin/sh"]} if image is None else image
    return build_runtime_config(image, RunOptions(**kw), rootfs, container_id=CID,
                                etc_files=tmp_path / "etc", host=host)


# ------------------------------------------------------------ args
@pytest.mark.parametrize(("image", "opts", "expected"), [
    ({"Entrypoint": ["/e"], "Cmd": ["c"]}, {}, ["/e", "c"]),
    ({"Entrypoint": ["/e"], "Cmd": ["c"]}, {"args": ["x"]}, ["/e", "x"]),
    ({"Entrypoint": ["/e"], "Cmd": ["c"]}, {"entrypoint": ["/o"]}, ["/o"]),
    ({"Entrypoint": ["/e"], "Cmd": ["c"]}, {"entrypoint": ["/o"], "args": ["y"]}, ["/o", "y"]),
    ({"Entrypoint": ["/e"], "Cmd": ["c"]}, {"entrypoint": [""], "args": ["ls"]}, ["ls"]),
    ({"Entrypoint": ["/e"], "Cmd": ["c"]}, {"entrypoint": [], "args": ["ls"]}, ["ls"]),
    ({"Cmd": ["c", "d"]}, {}, ["c", "d"]),
    ({"Entrypoint": None, "Cmd": None}, {"args": ["z"]}, ["z"]),
])
def test_entrypoint_cmd_rules(image, opts, expected):
    assert resolve_args(image, RunOptions(**opts)) == expected


@pytest.mark.parametrize(("image", "opts"), [
    ({}, {}), ({"Entrypoint": ["/e"], "Cmd": ["c"]}, {"entrypoint": [""]}), ({"Cmd": []}, {"entrypoint": []}),
])
def test_no_command_is_an_error(image, opts):
    with pytest.raises(InvalidOption, match="no command specified"):
        resolve_args(image, RunOptions(**opts))


# ------------------------------------------------------------ env
def test_env_order_and_overrides():
    env = build_env(["PATH=/img", "A=1", "B=2"], ["B=user", "C=3"], hostname="h", tty=True, home="/root")
    assert env == ["PATH=/img", "HOSTNAME=h", "TERM=xterm", "B=user", "C=3", "A=1", "HOME=/root"]


def test_env_defaults_without_image_path():
    env = build_env([], [], hostname="h", tty=False, home="/home/x")
    assert env == [DEFAULT_PATH, "HOSTNAME=h", "HOME=/home/x"]


def test_env_home_from_image_wins_and_key_alone_unsets():
    env = build_env(["HOME=/img"], ["HOSTNAME"], hostname="h", tty=False, home="/root")
    assert env == [DEFAULT_PATH, "HOME=/img"]


def test_replace_or_append():
    assert replace_or_append_env(["A=1", "B=2"], ["B=3", "C=4", "A"]) == ["B=3", "C=4"]


# ------------------------------------------------------------ users
@pytest.mark.parametrize(("spec", "uid", "gid", "extra", "home"), [
    ("", 0, 0, (10,), "/root"),
    ("root", 0, 0, (10,), "/root"),
    ("alice", 1000, 1000, (50,), "/home/alice"),
    ("1000", 1000, 1000, (50,), "/home/alice"),
    ("1000:50", 1000, 50, (), "/home/alice"),
    ("alice:staff", 1000, 50, (), "/home/alice"),
    ("alice:77", 1000, 77, (), "/home/alice"),
    ("4242", 4242, 0, (), "/"),
    ("4242:4243", 4242, 4243, (), "/"),
])
def test_resolve_user(rootfs, spec, uid, gid, extra, home):
    user = resolve_user(rootfs, spec)
    assert (user.uid, user.gid, user.additional_gids, user.home) == (uid, gid, extra, home)


def test_unknown_user_and_group_are_errors(rootfs):
    with pytest.raises(InvalidOption, match="unable to find user carol: no matching entries in passwd file"):
        resolve_user(rootfs, "carol")
    with pytest.raises(InvalidOption, match="unable to find group nope: no matching entries in group file"):
        resolve_user(rootfs, "alice:nope")


def test_user_without_passwd_file(tmp_path):
    assert resolve_user(tmp_path, "12").uid == 12
    with pytest.raises(InvalidOption):
        resolve_user(tmp_path, "daemon")


# ------------------------------------------------------------ the whole config
def test_defaults_like_docker(rootfs, tmp_path):
    c = config(rootfs, tmp_path, image={"Cmd": ["sh"], "Env": ["X=1"], "WorkingDir": "/app", "User": "alice"})
    p = c["process"]
    assert p["args"] == ["sh"] and p["cwd"] == "/app"
    assert p["env"] == [DEFAULT_PATH, f"HOSTNAME={CID[:12]}", "X=1", "HOME=/home/alice"]
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [50]}
    assert set(p["capabilities"]["bounding"]) == set(DEFAULT_CAPS) and len(DEFAULT_CAPS) == 14
    assert p["capabilities"]["effective"] == p["capabilities"]["bounding"] == p["capabilities"]["permitted"]
    assert "inheritable" not in p["capabilities"] and "ambient" not in p["capabilities"]
    assert p["terminal"] is False and p["noNewPrivileges"] is False
    assert c["hostname"] == CID[:12]
    assert c["root"] == {"path": str(rootfs), "readonly": False}
    linux = c["linux"]
    assert [n["type"] for n in linux["namespaces"]] == ["pid", "ipc", "uts", "mount", "network"]
    assert linux["maskedPaths"] == list(MASKED_PATHS) and "/proc/sys" in linux["readonlyPaths"]
    assert linux["cgroupsPath"] == f"/lamina/{CID}"
    assert linux["resources"]["devices"][0] == {"allow": False, "access": "rwm"}
    dests = {m["destination"]: m for m in c["mounts"]}
    for d in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"):
        assert d in dests
    assert "ro" in dests["/sys"]["options"] and "ro" in dests["/sys/fs/cgroup"]["options"]
    hosts_src = str(tmp_path / "etc" / "hosts")
    assert dests["/etc/hosts"] == {"destination": "/etc/hosts", "type": "bind", "source": hosts_src,
                                   "options": ["rbind", "rprivate"]}
    json.dumps(c)


def test_tty_and_terminal(rootfs, tmp_path):
    p = config(rootfs, tmp_path, tty=True)["process"]
    assert p["terminal"] is True and "TERM=xterm" in p["env"]


def test_rlimits_clamped_to_hard_limit(rootfs, tmp_path):
    c = config(rootfs, tmp_path, ulimits={"nproc": (100, 200), "RLIMIT_CORE": (-1, -1)})
    limits = {r["type"]: (r["soft"], r["hard"]) for r in c["process"]["rlimits"]}
    assert limits["RLIMIT_NOFILE"] == (20000, 20000)
    assert limits["RLIMIT_NPROC"] == (100, 200)
    assert limits["RLIMIT_CORE"] == (2**64 - 1, 2**64 - 1)
    unlimited = HostFacts(hard_limits={"RLIMIT_NOFILE": -1})
    c = config(rootfs, tmp_path, host=unlimited)
    assert c["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 1048576, "hard": 1048576}]


def test_unknown_ulimit(rootfs, tmp_path):
    with pytest.raises(InvalidOption, match="ulimit"):
        config(rootfs, tmp_path, ulimits={"bogus": (1, 1)})


def test_resources(rootfs, tmp_path):
    r = config(rootfs, tmp_path, memory=32 << 20, cpus=1.5, pids_limit=64, cgroup_parent="/mine/")["linux"]
    assert r["resources"]["memory"] == {"limit": 32 << 20, "swap": 32 << 20}
    assert r["resources"]["cpu"] == {"quota": 150000, "period": 100000}
    assert r["resources"]["pids"] == {"limit": 64}
    assert r["cgroupsPath"] == f"/mine/{CID}"
    no_swap = HostFacts(hard_limits={}, swap_accounting=False)
    assert config(rootfs, tmp_path, host=no_swap, memory=1 << 20)["linux"]["resources"]["memory"] == {
        "limit": 1 << 20}
    assert "pids" not in config(rootfs, tmp_path, pids_limit=0)["linux"]["resources"]


def test_unusable_cgroups_drop_limits(rootfs, tmp_path):
    host = HostFacts(hard_limits={}, cgroups_usable=False)
    linux = config(rootfs, tmp_path, host=host, memory=1 << 20)["linux"]
    assert "resources" not in linux and "cgroupsPath" not in linux


def test_bad_cpus(rootfs, tmp_path):
    with pytest.raises(InvalidOption):
        config(rootfs, tmp_path, cpus=0)


def test_network_modes(rootfs, tmp_path):
    host_cfg = config(rootfs, tmp_path, network="host")
    assert "network" not in [n["type"] for n in host_cfg["linux"]["namespaces"]]
    assert host_cfg["hostname"] == "hosty"
    assert config(rootfs, tmp_path, network="host", hostname="h2")["hostname"] == "h2"
    assert "network" in [n["type"] for n in config(rootfs, tmp_path, network="none")["linux"]["namespaces"]]


def test_privileged(rootfs, tmp_path):
    host = HostFacts(hard_limits={}, bounding_caps=frozenset({"CAP_SYS_ADMIN", "CAP_KILL", "CAP_CHOWN"}))
    c = config(rootfs, tmp_path, host=host, privileged=True)
    assert c["process"]["capabilities"]["bounding"] == ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"]
    assert "maskedPaths" not in c["linux"] and "readonlyPaths" not in c["linux"]
    assert c["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    sysfs = next(m for m in c["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sysfs["options"]


def test_caps_clamped_to_bounding_set(rootfs, tmp_path):
    host = HostFacts(hard_limits={}, bounding_caps=frozenset({"CAP_KILL"}))
    assert config(rootfs, tmp_path, host=host)["process"]["capabilities"]["bounding"] == ["CAP_KILL"]


@pytest.mark.parametrize(("add", "drop", "has", "lacks"), [
    (["NET_ADMIN"], [], "CAP_NET_ADMIN", None),
    ([], ["chown"], None, "CAP_CHOWN"),
    (["ALL"], ["KILL"], "CAP_SYS_ADMIN", "CAP_KILL"),
    (["CAP_KILL"], ["ALL"], "CAP_KILL", "CAP_CHOWN"),
])
def test_cap_add_drop(rootfs, tmp_path, add, drop, has, lacks):
    caps = config(rootfs, tmp_path, cap_add=add, cap_drop=drop)["process"]["capabilities"]["bounding"]
    assert has is None or has in caps
    assert lacks is None or lacks not in caps


def test_unknown_capability(rootfs, tmp_path):
    with pytest.raises(InvalidOption, match="unknown capability"):
        config(rootfs, tmp_path, cap_add=["FLY"])


def test_user_mounts(rootfs, tmp_path):
    src = tmp_path / "data"
    src.mkdir()
    mounts = [MountSpec(kind="bind", source=str(src), destination="/data/sub", read_only=True),
              MountSpec(kind="volume", source=str(src), destination="/data"),
              MountSpec(kind="tmpfs", destination="/dev/shm", options=("size=1m",))]
    c = config(rootfs, tmp_path, mounts=mounts)
    by_dest = {m["destination"]: m for m in c["mounts"]}
    assert by_dest["/data/sub"]["options"] == ["rbind", "rprivate", "ro"]
    assert by_dest["/data"]["options"] == ["rbind", "rprivate", "rw"]
    assert by_dest["/dev/shm"] == {"destination": "/dev/shm", "type": "tmpfs", "source": "tmpfs",
                                   "options": ["nosuid", "nodev", "noexec", "rw", "size=1m"]}
    order = [m["destination"] for m in c["mounts"]]
    assert order.index("/data") < order.index("/data/sub")
    assert order.count("/dev/shm") == 1


@pytest.mark.parametrize("spec", [
    MountSpec(kind="bind", source="/nonexistent/really", destination="/x"),
    MountSpec(kind="bind", source="relative", destination="/x"),
    MountSpec(kind="bind", source="/", destination="x"),
    MountSpec(kind="volume", destination="/x"),
])
def test_bad_mounts(rootfs, tmp_path, spec):
    with pytest.raises(InvalidOption, match="mount config"):
        config(rootfs, tmp_path, mounts=[spec])


def test_workdir_must_be_absolute(rootfs, tmp_path):
    with pytest.raises(InvalidOption, match="absolute path"):
        config(rootfs, tmp_path, workdir="rel")
    assert config(rootfs, tmp_path, workdir="/w")["process"]["cwd"] == "/w"


def test_read_only_root_and_oom_score(rootfs, tmp_path):
    c = config(rootfs, tmp_path, read_only=True, oom_score_adj=500, no_new_privileges=True)
    assert c["root"]["readonly"] is True
    assert c["process"]["oomScoreAdj"] == 500 and c["process"]["noNewPrivileges"] is True


def test_probe_host_reads_real_limits(rootfs, tmp_path):
    c = build_runtime_config({"Cmd": ["x"]}, RunOptions(), rootfs, container_id=CID, etc_files=tmp_path)
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = c["process"]["rlimits"][0]
    assert nofile["hard"] == (1048576 if hard == resource.RLIM_INFINITY else min(1048576, hard))


# ------------------------------------------------------------ /etc files
def test_write_etc_files_private(tmp_path):
    host_etc = tmp_path / "host"
    host_etc.mkdir()
    (host_etc / "resolv.conf").write_text("nameserver 127.0.0.53\nsearch example.org\n")
    out = tmp_path / "etc"
    write_etc_files(out, "box", "private", host_etc=host_etc)
    assert (out / "hostname").read_text() == "box\n"
    assert (out / "hosts").read_text().startswith("127.0.0.1\tlocalhost\n")
    assert (out / "resolv.conf").read_text() == "search example.org\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_write_etc_files_keeps_remote_nameservers_and_host_mode(tmp_path):
    host_etc = tmp_path / "host"
    host_etc.mkdir()
    (host_etc / "resolv.conf").write_text("nameserver 10.0.0.2\n")
    (host_etc / "hosts").write_text("127.0.0.1 localhost myhost\n")
    write_etc_files(tmp_path / "a", "box", "none", host_etc=host_etc)
    assert (tmp_path / "a" / "resolv.conf").read_text() == "nameserver 10.0.0.2\n"
    write_etc_files(tmp_path / "b", "box", "host", host_etc=host_etc)
    assert (tmp_path / "b" / "hosts").read_text() == "127.0.0.1 localhost myhost\n"


def test_write_etc_files_without_host_files(tmp_path):
    write_etc_files(tmp_path / "e", "box", "private", host_etc=Path("/nonexistent"))
    assert "8.8.8.8" in (tmp_path / "e" / "resolv.conf").read_text()


# ------------------------------------------------------------ more docker-run flags
def test_resource_flags(rootfs, tmp_path):
    res = config(rootfs, tmp_path, memory=64 << 20, memory_swap=128 << 20, memory_reservation=32 << 20,
                 cpu_shares=512, cpuset_cpus="0-1,3")["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20}
    assert res["cpu"] == {"shares": 512, "cpus": "0-1,3"}
    unlimited = config(rootfs, tmp_path, memory=64 << 20, memory_swap=-1)["linux"]["resources"]["memory"]
    assert unlimited["swap"] == -1


@pytest.mark.parametrize(("kw", "match"), [
    ({"memory_swap": 1 << 30}, "memory limit"),
    ({"memory": 1 << 30, "memory_swap": 1 << 20}, "larger than memory"),
    ({"cpuset_cpus": "3-1"}, "cpuset"),
    ({"cpuset_cpus": "a"}, "cpuset"),
    ({"cpu_shares": -2}, "shares"),
])
def test_bad_resource_flags(rootfs, tmp_path, kw, match):
    with pytest.raises(InvalidOption, match=match):
        config(rootfs, tmp_path, **kw)


def test_device_node_and_cgroup_rule(rootfs, tmp_path):
    linux = config(rootfs, tmp_path, devices=("/dev/null:/dev/mynull:rw", "/dev/zero"))["linux"]
    assert linux["devices"][0] == {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                                   "fileMode": 0o666, "uid": 0, "gid": 0}
    assert linux["devices"][1]["path"] == "/dev/zero"
    rules = linux["resources"]["devices"]
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"} in rules
    assert {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"} in rules


@pytest.mark.parametrize(("spec", "match"), [
    ("/nonexistent", "No such file"), ("/etc/passwd", "not a device node"), ("/dev/null:rel", "specification"),
    ("/dev/null:/d:rwx", "specification"), ("/dev/null:/d:rr", "specification"), ("a:b:c:d", "specification"),
])
def test_bad_devices(rootfs, tmp_path, spec, match):
    with pytest.raises(InvalidOption, match=match):
        config(rootfs, tmp_path, devices=(spec,))


def test_host_namespaces(rootfs, tmp_path):
    cfg = config(rootfs, tmp_path, pid="host", ipc="host", uts="host")
    assert [n["type"] for n in cfg["linux"]["namespaces"]] == ["mount", "network"]
    assert "hostname" not in cfg   # no UTS namespace of its own: the runtime must not set one
    shm = next(m for m in cfg["mounts"] if m["destination"] == "/dev/shm")
    assert (shm["type"], shm["source"]) == ("bind", "/dev/shm")
    own = config(rootfs, tmp_path, ipc="private")
    assert [n["type"] for n in own["linux"]["namespaces"]][:3] == ["pid", "ipc", "uts"]


@pytest.mark.parametrize(("kw", "match"), [
    ({"pid": "container:x"}, "--pid"), ({"ipc": "none"}, "--ipc"), ({"uts": "private"}, "--uts"),
    ({"uts": "host", "hostname": "h"}, "hostname and the UTS mode"),
    ({"sysctls": {"vm.swappiness": "1"}}, "not allowed"),
    ({"sysctls": {"kernel.shmmax": "1"}, "ipc": "host"}, "host IPC"),
    ({"sysctls": {"net.ipv4.ip_forward": "1"}, "network": "host"}, "host network"),
])
def test_bad_namespace_modes_and_sysctls(rootfs, tmp_path, kw, match):
    with pytest.raises(InvalidOption, match=match):
        config(rootfs, tmp_path, **kw)


def test_sysctls_and_group_add(rootfs, tmp_path):
    cfg = config(rootfs, tmp_path, sysctls={"net.ipv4.ip_forward": "1", "kernel.shmmax": "9"},
                 user="alice", group_add=("wheel", "77", "staff"))
    assert cfg["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1", "kernel.shmmax": "9"}
    assert cfg["process"]["user"]["additionalGids"] == [50, 10, 77]
    with pytest.raises(InvalidOption, match="nosuch"):
        config(rootfs, tmp_path, group_add=("nosuch",))
