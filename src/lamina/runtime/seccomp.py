"""Seccomp for containers: docker's default profile, made into a container's OCI ``linux.seccomp``
section and compiled to BPF once, so that crun does not compile it at every start.

The profile is the distribution's copy of docker's default (``containers-common``'s
``seccomp.json``, the one podman and buildah use, in docker's format: rules with ``includes``/
``excludes`` by architecture, capability and kernel version). ``oci_section`` keeps the rules that
apply to this machine and the container's capabilities, as moby's ``setupSeccomp`` does.

crun compiles a seccomp section with libseccomp at every start (~10 ms for this profile: a quarter
of a ``run --rm``). ``compiled`` does the same compilation through libseccomp itself, the way crun
does it (same calls, same order: the BPF is byte-identical, a test compares them), caches the
program per section, libseccomp version and kernel, and the container hands it to crun in the
``run.oci.seccomp_bpf_data`` annotation, which crun loads instead of compiling. Without libseccomp
the annotation is left out and crun compiles as usual.

Must not know about images or container records.
"""

from __future__ import annotations

import binascii
import errno
import functools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from lamina._internal.logs import get_logger
from lamina.errors import InvalidOption

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)

PROFILE_PATHS = ("/etc/containers/seccomp.json", "/usr/share/containers/seccomp.json")
BPF_ANNOTATION = "run.oci.seccomp_bpf_data"
# uname machine -> (docker's arch name, libseccomp's architecture)
_ARCHES = {"x86_64": ("amd64", "SCMP_ARCH_X86_64"), "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
           "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"), "s390x": ("s390x", "SCMP_ARCH_S390X"),
           "riscv64": ("riscv64", "SCMP_ARCH_RISCV64")}


# ---------------------------------------------------------------- the profile
@functools.cache
def default_profile() -> Mapping[str, Any] | None:
    """The host's default profile (docker format), or None (with a warning) when it has none."""
    for path in PROFILE_PATHS:
        try:
            with open(path, encoding="utf-8") as f:
                return dict(json.load(f))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            log.warning("seccomp profile %s unreadable: %s", path, exc)
    log.warning("no default seccomp profile in %s (apt-get install golang-github-containers-common): "
                "containers run without seccomp", " or ".join(PROFILE_PATHS))
    return None


def load_profile(path: str) -> Mapping[str, Any]:
    """A profile named by ``--security-opt seccomp=PATH``; InvalidOption when it cannot be used."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise InvalidOption(f"opening seccomp profile ({path}) failed: {reason}") from None
    if not isinstance(data, dict) or "defaultAction" not in data:
        raise InvalidOption(f"seccomp profile {path}: no defaultAction")
    return data


def oci_section(profile: Mapping[str, Any], capabilities: Iterable[str], *, machine: str | None = None,
                kernel: str | None = None) -> dict[str, Any]:
    """The OCI ``linux.seccomp`` for a container with *capabilities* on this machine and kernel."""
    uname = os.uname()
    arch, native = _ARCHES.get(machine or uname.machine, ("", ""))
    caps = set(capabilities)
    release = _version(kernel or uname.release)
    section: dict[str, Any] = {"defaultAction": profile["defaultAction"],
                               "architectures": _architectures(profile, native),
                               "syscalls": [_rule(r) for r in profile.get("syscalls") or ()
                                            if _applies(r, arch, caps, release)]}
    if profile.get("defaultErrnoRet") is not None:
        section["defaultErrnoRet"] = profile["defaultErrnoRet"]
    if profile.get("flags"):
        section["flags"] = list(profile["flags"])
    return section


def _architectures(profile: Mapping[str, Any], native: str) -> list[str]:
    for entry in profile.get("archMap") or ():
        if entry.get("architecture") == native:
            return [native, *entry.get("subArchitectures", ())]
    return list(profile.get("architectures") or ([native] if native else []))


def _applies(rule: Mapping[str, Any], arch: str, caps: set[str], release: tuple[int, ...]) -> bool:
    includes, excludes = rule.get("includes") or {}, rule.get("excludes") or {}
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if excludes.get("arches") and arch in excludes["arches"]:
        return False
    if includes.get("caps") and not all(c in caps for c in includes["caps"]):
        return False
    if excludes.get("caps") and any(c in caps for c in excludes["caps"]):
        return False
    return not (includes.get("minKernel") and release < _version(includes["minKernel"]))


def _rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    out = {"names": list(rule.get("names") or ([rule["name"]] if rule.get("name") else [])),
           "action": rule["action"]}
    if rule.get("args"):
        out["args"] = [dict(a) for a in rule["args"]]
    if rule.get("errnoRet") is not None:
        out["errnoRet"] = rule["errnoRet"]
    return out


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("-")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


# ---------------------------------------------------------------- compiling
def bpf_annotation(section: Mapping[str, Any], cache_dir: Path) -> dict[str, str]:
    """``{run.oci.seccomp_bpf_data: base64}`` for *section*, compiled once; {} without libseccomp."""
    program = compiled(section, cache_dir)
    return {BPF_ANNOTATION: binascii.b2a_base64(program, newline=False).decode()} if program is not None else {}


def compiled(section: Mapping[str, Any], cache_dir: Path) -> bytes | None:
    """The BPF program for *section*, from the cache or compiled and cached; None without libseccomp."""
    lib = _libseccomp()
    if lib is None:
        return None
    from lamina.digest import hexdigest
    key = hexdigest("sha256", json.dumps([section, _lib_version(lib), os.uname().release],
                                         sort_keys=True).encode())
    path = cache_dir / f"{key}.bpf"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    program = _compile(lib, section)
    from lamina._internal.fsops import atomic_write
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(path, program, durable=False)
    return program


@functools.cache
def _libseccomp() -> Any:
    import ctypes
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        return None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.c_void_p]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_version.restype = ctypes.POINTER(ctypes.c_uint * 3)
    return lib


def _lib_version(lib: Any) -> list[int]:
    return list(lib.seccomp_version().contents)


_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
        "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
_ACTIONS = {"SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000, "SCMP_ACT_KILL_PROCESS": 0x80000000,
            "SCMP_ACT_TRAP": 0x00030000, "SCMP_ACT_NOTIFY": 0x7FC00000, "SCMP_ACT_LOG": 0x7FFC0000,
            "SCMP_ACT_ALLOW": 0x7FFF0000}
_SYSCALL_UNKNOWN = -1  # __NR_SCMP_ERROR


def _action(name: str, errno_ret: int) -> int:
    if name == "SCMP_ACT_ERRNO":
        return 0x00050000 | (errno_ret & 0xFFFF)
    if name == "SCMP_ACT_TRACE":
        return 0x7FF00000 | (errno_ret & 0xFFFF)
    if name not in _ACTIONS:
        raise InvalidOption(f"seccomp: unknown action {name!r}")
    return _ACTIONS[name]


def _compile(lib: Any, section: Mapping[str, Any]) -> bytes:
    """crun's ``libcrun_generate_seccomp``, call for call: init, architectures, rules, export."""
    default = _action(section["defaultAction"], section.get("defaultErrnoRet", errno.EPERM))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise InvalidOption("seccomp: seccomp_init failed")
    try:
        for arch in section.get("architectures") or ():
            token = lib.seccomp_arch_resolve_name(arch.removeprefix("SCMP_ARCH_").lower().encode())
            if token == 0:
                raise InvalidOption(f"seccomp: unknown architecture {arch!r}")
            _check(lib.seccomp_arch_add(ctx, token), "seccomp_arch_add", arch, allow=-errno.EEXIST)
        for rule in section.get("syscalls") or ():
            action = _action(rule["action"], rule.get("errnoRet", errno.EPERM))
            if action != default:
                _add_rule(lib, ctx, action, rule)
        return _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


def _add_rule(lib: Any, ctx: int, action: int, rule: Mapping[str, Any]) -> None:
    import ctypes

    class ArgCmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                    ("datum_b", ctypes.c_uint64)]

    args: Sequence[Mapping[str, Any]] = (rule.get("args") or [])[:6]
    cmps = (ArgCmp * max(len(args), 1))(*[ArgCmp(a["index"], _OPS[a["op"]], a.get("value", 0),
                                                 a.get("valueTwo", 0)) for a in args])
    indexes = [a["index"] for a in args]
    for name in rule.get("names") or ():
        number = lib.seccomp_syscall_resolve_name(name.encode())
        if number == _SYSCALL_UNKNOWN:
            continue  # crun warns and skips a syscall this libseccomp does not know
        if not args:
            _check(lib.seccomp_rule_add_array(ctx, action, number, 0, None), "seccomp_rule_add", name)
        elif len(set(indexes)) == len(indexes):
            _check(lib.seccomp_rule_add_array(ctx, action, number, len(args), cmps), "seccomp_rule_add", name)
        else:  # several conditions on one argument: one rule each, as crun does
            for k in range(len(args)):
                _check(lib.seccomp_rule_add_array(ctx, action, number, 1, ctypes.byref(cmps[k])),
                       "seccomp_rule_add", name)


def _export(lib: Any, ctx: int) -> bytes:
    fd = os.memfd_create("lamina-seccomp", os.MFD_CLOEXEC)
    try:
        _check(lib.seccomp_export_bpf(ctx, fd), "seccomp_export_bpf", "")
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _check(ret: int, call: str, what: str, allow: int = 0) -> None:
    if ret < 0 and ret != allow:
        raise InvalidOption(f"seccomp: {call} {what}: {os.strerror(-ret)}")
