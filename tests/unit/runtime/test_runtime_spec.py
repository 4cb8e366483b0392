"""spec.runtime: dataclasses render valid, minimal config.json objects."""

from __future__ import annotations

import json

from lamina.spec.runtime import (
    Capabilities,
    Cpu,
    Hook,
    Hooks,
    Linux,
    Memory,
    Mount,
    Namespace,
    Process,
    Resources,
    Rlimit,
    Root,
    RuntimeConfig,
    User,
)


def test_minimal_config_has_required_fields_only():
    cfg = RuntimeConfig(process=Process(args=("/bin/true",)), root=Root(path="/r"))
    assert cfg.to_dict() == {
        "ociVersion": "1.0.2",
        "process": {"args": ["/bin/true"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "terminal": False,
                    "noNewPrivileges": False},
        "root": {"path": "/r", "readonly": False},
    }


def test_camel_case_keys_and_nested_values():
    proc = Process(args=("sh",), env=("A=1",), user=User(uid=1, gid=2, additional_gids=(3,)),
                   rlimits=(Rlimit(type="RLIMIT_NOFILE", soft=5, hard=6),),
                   capabilities=Capabilities(bounding=("CAP_KILL",), effective=("CAP_KILL",)),
                   no_new_privileges=True, oom_score_adj=-5)
    linux = Linux(namespaces=(Namespace(type="pid"), Namespace(type="network", path="/proc/1/ns/net")),
                  resources=Resources(memory=Memory(limit=10, swap=10), cpu=Cpu(quota=5, period=10)),
                  cgroups_path="/lamina/x", masked_paths=("/proc/kcore",), readonly_paths=("/proc/sys",))
    d = RuntimeConfig(process=proc, root=Root(path="r", readonly=True), hostname="h",
                      mounts=(Mount(destination="/proc", type="proc", source="proc"),), linux=linux,
                      hooks=Hooks(poststop=(Hook(path="/bin/x", args=("x",)),)),
                      annotations={"a": "b"}).to_dict()
    assert d["process"]["user"] == {"uid": 1, "gid": 2, "additionalGids": [3]}
    assert d["process"]["noNewPrivileges"] is True and d["process"]["oomScoreAdj"] == -5
    assert d["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 5, "hard": 6}]
    assert d["process"]["capabilities"] == {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]}
    assert d["linux"]["cgroupsPath"] == "/lamina/x"
    assert d["linux"]["maskedPaths"] == ["/proc/kcore"] and d["linux"]["readonlyPaths"] == ["/proc/sys"]
    assert d["linux"]["namespaces"] == [{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}]
    assert d["linux"]["resources"] == {"memory": {"limit": 10, "swap": 10}, "cpu": {"quota": 5, "period": 10}}
    assert d["hooks"] == {"poststop": [{"path": "/bin/x", "args": ["x"]}]}
    assert d["mounts"] == [{"destination": "/proc", "type": "proc", "source": "proc"}]
    assert d["annotations"] == {"a": "b"}
    json.dumps(d)  # plain JSON types only


def test_empty_args_are_kept_so_the_runtime_rejects_them():
    assert RuntimeConfig(process=Process(args=()), root=Root(path="r")).to_dict()["process"]["args"] == []
