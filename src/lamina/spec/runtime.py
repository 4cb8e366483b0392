"""OCI runtime-spec subset (config.json) as frozen dataclasses with ``to_dict()``.

Must not do I/O, read the host or know about images: ``lamina.container.ocispec``
decides the values, this module only shapes them. Field names are snake_case;
``to_dict()`` renders the spec's camelCase keys, drops ``None`` and empty
optional collections, and keeps ``process.args`` even when empty so a bad
config fails loudly in the runtime rather than silently here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OCI_VERSION = "1.0.2"
_KEEP_EMPTY = frozenset({"args"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_fields(value)
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def _encode_fields(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        if isinstance(value, tuple | Mapping) and not value and f.name not in _KEEP_EMPTY:
            continue
        out[_camel(f.name)] = _encode(value)
    return out


class _Encodable:
    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object for this value (camelCase keys, no nulls)."""
        return _encode_fields(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class User(_Encodable):
    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    umask: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rlimit(_Encodable):
    type: str  # "RLIMIT_NOFILE"
    soft: int
    hard: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities(_Encodable):
    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Process(_Encodable):
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    user: User = field(default_factory=User)
    terminal: bool = False
    rlimits: tuple[Rlimit, ...] = ()
    capabilities: Capabilities | None = None
    no_new_privileges: bool = False
    oom_score_adj: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Root(_Encodable):
    path: str
    readonly: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount(_Encodable):
    destination: str
    type: str | None = None
    source: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Namespace(_Encodable):
    type: str  # pid | network | mount | ipc | uts | user | cgroup
    path: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Memory(_Encodable):
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None  # memory+swap, as in the spec (and cgroup v1 memsw)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cpu(_Encodable):
    shares: int | None = None
    quota: int | None = None
    period: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pids(_Encodable):
    limit: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRule(_Encodable):
    allow: bool
    type: str | None = None  # "a" | "c" | "b"
    major: int | None = None
    minor: int | None = None
    access: str | None = None  # any of "rwm"


@dataclass(frozen=True, slots=True, kw_only=True)
class Resources(_Encodable):
    devices: tuple[DeviceRule, ...] = ()
    memory: Memory | None = None
    cpu: Cpu | None = None
    pids: Pids | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Linux(_Encodable):
    namespaces: tuple[Namespace, ...] = ()
    resources: Resources | None = None
    cgroups_path: str | None = None
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    sysctl: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Hook(_Encodable):
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Hooks(_Encodable):
    prestart: tuple[Hook, ...] = ()
    create_runtime: tuple[Hook, ...] = ()
    create_container: tuple[Hook, ...] = ()
    start_container: tuple[Hook, ...] = ()
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeConfig(_Encodable):
    """The whole config.json of a bundle."""

    process: Process
    root: Root
    hostname: str | None = None
    mounts: tuple[Mount, ...] = ()
    linux: Linux | None = None
    hooks: Hooks | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    oci_version: str = OCI_VERSION
