"""lamina.runtime.seccomp: docker-format profiles to OCI sections, and crun-identical BPF compiled once."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lamina.errors import InvalidOption
from lamina.runtime import seccomp
from lamina.testing import probes

PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["arm_only"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
        {"names": ["not_on_amd64"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["new_call"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.8"}},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
    ],
}


def _names(section: dict) -> list[str]:
    return [n for rule in section["syscalls"] for n in rule["names"]]


def test_section_keeps_the_rules_for_this_arch_caps_and_kernel() -> None:
    section = seccomp.oci_section(PROFILE, ["CAP_CHOWN"], machine="x86_64", kernel="6.1.0-13-amd64")
    assert section["defaultAction"] == "SCMP_ACT_ERRNO" and section["defaultErrnoRet"] == 1
    assert section["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert _names(section) == ["read", "write", "arch_prctl", "chroot", "new_call", "personality", "clone"]
    assert section["syscalls"][-1] == {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    assert section["syscalls"][-2]["args"] == [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]


def test_capabilities_arch_and_old_kernels_change_the_rules() -> None:
    admin = seccomp.oci_section(PROFILE, ["CAP_SYS_ADMIN"], machine="x86_64", kernel="6.1")
    assert "mount" in _names(admin) and "chroot" not in _names(admin)
    arm = seccomp.oci_section(PROFILE, [], machine="aarch64", kernel="6.1")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "arm_only" in _names(arm) and "not_on_amd64" in _names(arm) and "arch_prctl" not in _names(arm)
    assert "new_call" not in _names(seccomp.oci_section(PROFILE, [], machine="x86_64", kernel="5.4.0"))


def test_a_named_profile_must_exist_and_be_one(tmp_path: Path) -> None:
    with pytest.raises(InvalidOption, match=r"opening seccomp profile \(/nonexistent\) failed"):
        seccomp.load_profile("/nonexistent")
    bad = tmp_path / "p.json"
    bad.write_text('{"syscalls": []}')
    with pytest.raises(InvalidOption, match="no defaultAction"):
        seccomp.load_profile(str(bad))


needs_libseccomp = pytest.mark.skipif(seccomp._libseccomp() is None, reason="needs libseccomp.so.2")


@needs_libseccomp
def test_compiled_once_then_read_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    section = seccomp.oci_section(PROFILE, [], machine="x86_64", kernel="6.1")
    program = seccomp.compiled(section, tmp_path)
    assert program and len(program) % 8 == 0 and len(list(tmp_path.iterdir())) == 1
    monkeypatch.setattr(seccomp, "_compile", lambda *_: pytest.fail("compiled again"))
    assert seccomp.compiled(section, tmp_path) == program
    annotation = seccomp.bpf_annotation(section, tmp_path)
    assert list(annotation) == [seccomp.BPF_ANNOTATION]


@needs_libseccomp
def test_unknown_actions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidOption, match="unknown action 'SCMP_ACT_MAYBE'"):
        seccomp.compiled({"defaultAction": "SCMP_ACT_MAYBE", "syscalls": []}, tmp_path)


@needs_libseccomp
@pytest.mark.root
@pytest.mark.skipif(probes.crun() is not None, reason=str(probes.crun()))
@pytest.mark.skipif(probes.busybox() is not None, reason=str(probes.busybox()))
@pytest.mark.skipif(seccomp.default_profile() is None, reason="no default seccomp profile on this host")
def test_the_program_is_the_one_crun_compiles(tmp_path: Path) -> None:
    """crun writes the BPF it compiled to its state dir at ``create``: ours must be the same bytes."""
    from lamina.container.ocispec import DEFAULT_CAPS
    profile = seccomp.default_profile()
    assert profile is not None
    section = seccomp.oci_section(profile, DEFAULT_CAPS)
    bundle, state = tmp_path / "bundle", tmp_path / "state"
    for sub in ("dev", "proc"):
        (bundle / "rootfs" / sub).mkdir(parents=True)
    shutil.copy(str(probes.busybox_path()), bundle / "rootfs" / "true")
    subprocess.run(["crun", "spec", "--rootless"], cwd=bundle, check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["linux"] = {"seccomp": section, "namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "uts"}]}
    config["process"].update(args=["/true"], terminal=False)
    config["mounts"] = []
    (bundle / "config.json").write_text(json.dumps(config))
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    # not captured: the created init would hold a capture pipe open until it is deleted
    subprocess.run(["crun", "--root", str(state), "create", "--bundle", str(bundle), "cmp"], check=True, **quiet)
    try:
        theirs = (state / "cmp" / "seccomp.bpf").read_bytes()
    finally:
        subprocess.run(["crun", "--root", str(state), "delete", "--force", "cmp"], check=False)
    assert seccomp.compiled(section, tmp_path / "cache") == theirs
