"""_internal.cgroups: mode detection, the hybrid fix and OOM counters, on fake trees."""

from __future__ import annotations

from pathlib import Path

from lamina._internal import cgroups

V1_INFO = """31 23 0:28 / {root} rw - tmpfs tmpfs rw
32 31 0:29 / {root}/memory rw - cgroup cgroup rw,memory
40 31 0:37 / {root}/unified rw - cgroup2 cgroup2 rw
"""
V2_INFO = "31 23 0:28 / {root} rw - cgroup2 cgroup2 rw\n"


def tree(tmp_path: Path, controllers: str = "") -> Path:
    root = tmp_path / "cg"
    (root / "unified").mkdir(parents=True)
    (root / "unified" / "cgroup.controllers").write_text(controllers)
    return root


def test_detect_modes(tmp_path):
    root = tree(tmp_path, "hugetlb\n")
    assert cgroups.detect_mode(root, V1_INFO.format(root=root)) is cgroups.CgroupMode.HYBRID
    assert cgroups.detect_mode(root, V2_INFO.format(root=root)) is cgroups.CgroupMode.V2
    (root / "unified" / "cgroup.controllers").write_text("")
    assert cgroups.detect_mode(root, V1_INFO.format(root=root)) is cgroups.CgroupMode.V1


def test_status_reports_hybrid_as_unusable(tmp_path):
    root = tree(tmp_path, "hugetlb rdma")
    status = cgroups.cgroup_status(root, V1_INFO.format(root=root))
    assert not status.usable and "hugetlb,rdma" in status.reason
    assert cgroups.cgroup_status(root, V2_INFO.format(root=root)).usable


def test_prepare_mounts_each_controller_once_per_boot(tmp_path, monkeypatch):
    root = tree(tmp_path, "hugetlb rdma\n")
    mounted: list[tuple[str, Path]] = []
    monkeypatch.setattr(cgroups, "_mount_v1", lambda c, t: mounted.append((c, t)))
    marker = tmp_path / "run" / "marker"
    cgroups.prepare_cgroups(root, marker)
    assert mounted == [("hugetlb", root / "hugetlb"), ("rdma", root / "rdma")]
    assert marker.read_text().strip() == cgroups.BOOT_ID.read_text().strip()
    cgroups.prepare_cgroups(root, marker)  # marked: nothing again
    assert len(mounted) == 2


def test_prepare_is_a_no_op_without_v2_controllers(tmp_path, monkeypatch):
    root = tree(tmp_path, "")
    monkeypatch.setattr(cgroups, "_mount_v1", lambda c, t: (_ for _ in ()).throw(AssertionError))
    cgroups.prepare_cgroups(root, tmp_path / "marker")
    assert not (tmp_path / "marker").exists()


def test_prepare_failure_warns_and_does_not_raise(tmp_path, monkeypatch, caplog):
    root = tree(tmp_path, "hugetlb")

    def refuse(controller: str, target: Path) -> None:
        raise OSError("mount: permission denied")  # what _mount_v1 raises for a failed mount(8)

    monkeypatch.setattr(cgroups, "_mount_v1", refuse)
    cgroups.prepare_cgroups(root, tmp_path / "marker")
    assert "cannot bind cgroup controller hugetlb (mount: permission denied)" in caplog.text


def test_oom_kill_count_v1_and_v2(tmp_path):
    root = tmp_path / "cg"
    v1 = root / "memory" / "lamina" / "a"
    v1.mkdir(parents=True)
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert cgroups.oom_kill_count("/lamina/a", root) == 2
    v2 = root / "lamina" / "b"
    v2.mkdir(parents=True)
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    assert cgroups.oom_kill_count("/lamina/b", root) == 1
    assert cgroups.oom_kill_count("/lamina/gone", root) == 0


def test_swap_accounting(tmp_path):
    root = tmp_path / "cg"
    (root / "memory").mkdir(parents=True)
    assert not cgroups.swap_accounting(root)
    (root / "memory" / "memory.memsw.limit_in_bytes").write_text("1")
    assert cgroups.swap_accounting(root)


def _files(base: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_usage_v1_reads_each_hierarchy(tmp_path):
    root = tmp_path / "cg"
    _files(root, {
        "cpuacct/lamina/c1/cpuacct.usage": "1500000000\n",
        "memory/lamina/c1/memory.usage_in_bytes": "10485760\n",
        "memory/lamina/c1/memory.stat": "cache 4096\ntotal_inactive_file 2097152\n",
        "memory/lamina/c1/memory.limit_in_bytes": "9223372036854771712\n",
        "pids/lamina/c1/pids.current": "3\n",
        "blkio/lamina/c1/blkio.throttle.io_service_bytes":
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\n8:16 Read 1\nTotal 12289\n",
    })
    used = cgroups.usage("/lamina/c1", root)
    assert used == cgroups.Usage(cpu_ns=1_500_000_000, memory=8 << 20, memory_limit=0, pids=3,
                                 block_read=4097, block_write=8192)
    (root / "memory/lamina/c1/memory.limit_in_bytes").write_text("67108864\n")
    assert cgroups.usage("/lamina/c1", root).memory_limit == 64 << 20


def test_usage_v2_and_a_vanished_cgroup(tmp_path):
    root = tmp_path / "cg"
    _files(root, {
        "lamina/c2/cpu.stat": "usage_usec 2500\nuser_usec 2000\n",
        "lamina/c2/memory.current": "3000000\n",
        "lamina/c2/memory.stat": "anon 1000\ninactive_file 1000000\n",
        "lamina/c2/memory.max": "max\n",
        "lamina/c2/pids.current": "7\n",
        "lamina/c2/io.stat": "8:0 rbytes=100 wbytes=200 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n",
    })
    assert cgroups.usage("/lamina/c2", root) == cgroups.Usage(
        cpu_ns=2_500_000, memory=2_000_000, memory_limit=0, pids=7, block_read=101, block_write=202)
    assert cgroups.usage("/lamina/gone", root) == cgroups.Usage()
