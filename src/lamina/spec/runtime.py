"""OCI runtime-spec subset (config.json) as frozen, slotted value types with ``to_dict()``.

Must not do I/O, read the host or know about images: ``lamina.container.ocispec``
decides the values, this module only shapes them. Field names are snake_case;
``to_dict()`` renders the spec's camelCase keys, drops ``None`` and empty
optional collections, and keeps ``process.args`` even when empty so a bad
config fails loudly in the runtime rather than silently here.
"""

from __future__ import annotations

from collections.abc import Mapping

from lamina._internal.records import Record, field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION = "1.0.2"
_KEEP_EMPTY = frozenset({"args"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _encode(value: Any) -> Any:
    if isinstance(value, _Encodable):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


class _Encodable(Record):
    """Base of the spec values: a record with ``to_dict()``."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object for this value (camelCase keys, no nulls)."""
        out: dict[str, Any] = {}
        for name in self._fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, tuple | Mapping) and not value and name not in _KEEP_EMPTY:
                continue
            out[_camel(name)] = _encode(value)
        return out


@record
class User(_Encodable):
    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    umask: int | None = None


@record
class Rlimit(_Encodable):
    type: str  # "RLIMIT_NOFILE"
    soft: int
    hard: int


@record
class Capabilities(_Encodable):
    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


@record
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


@record
class Root(_Encodable):
    path: str
    readonly: bool = False


@record
class Mount(_Encodable):
    destination: str
    type: str | None = None
    source: str | None = None
    options: tuple[str, ...] = ()


@record
class Namespace(_Encodable):
    type: str  # pid | network | mount | ipc | uts | user | cgroup
    path: str | None = None


@record
class Memory(_Encodable):
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None  # memory+swap, as in the spec (and cgroup v1 memsw)


@record
class Cpu(_Encodable):
    shares: int | None = None
    quota: int | None = None
    period: int | None = None
    cpus: str | None = None   # cpuset, e.g. "0-1,3"


@record
class Pids(_Encodable):
    limit: int


@record
class DeviceRule(_Encodable):
    allow: bool
    type: str | None = None  # "a" | "c" | "b"
    major: int | None = None
    minor: int | None = None
    access: str | None = None  # any of "rwm"


@record
class Resources(_Encodable):
    devices: tuple[DeviceRule, ...] = ()
    memory: Memory | None = None
    cpu: Cpu | None = None
    pids: Pids | None = None


@record
class Device(_Encodable):
    """A device node the runtime creates in the container's /dev (``linux.devices``)."""

    path: str
    type: str   # "c" | "b"
    major: int
    minor: int
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


@record
class Linux(_Encodable):
    namespaces: tuple[Namespace, ...] = ()
    devices: tuple[Device, ...] = ()
    resources: Resources | None = None
    cgroups_path: str | None = None
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    sysctl: Mapping[str, str] = field(default_factory=dict)
    seccomp: Mapping[str, Any] | None = None  # the spec's object as is (lamina.runtime.seccomp makes it)


@record
class Hook(_Encodable):
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


@record
class Hooks(_Encodable):
    prestart: tuple[Hook, ...] = ()
    create_runtime: tuple[Hook, ...] = ()
    create_container: tuple[Hook, ...] = ()
    start_container: tuple[Hook, ...] = ()
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()


@record
class RuntimeConfig(_Encodable):
    """The whole config.json of a bundle."""

    process: Process
    root: Root
    hostname: str | None = None
    domainname: str | None = None
    mounts: tuple[Mount, ...] = ()
    linux: Linux | None = None
    hooks: Hooks | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    oci_version: str = OCI_VERSION
