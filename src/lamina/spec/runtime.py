"""OCI runtime-spec subset (config.json) as frozen, slotted value types with ``to_dict()``.

Must not do I/O, read the host or know about images: ``lamina.container.ocispec``
decides the values, this module only shapes them. Field names are snake_case;
``to_dict()`` renders the spec's camelCase keys, drops ``None`` and empty
optional collections, and keeps ``process.args`` even when empty so a bad
config fails loudly in the runtime rather than silently here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import FrozenInstanceError
from typing import Any, ClassVar, TypeVar, dataclass_transform

OCI_VERSION = "1.0.2"
_KEEP_EMPTY = frozenset({"args"})
_T = TypeVar("_T")
_MISSING = object()


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


class _Factory:
    """A field default made fresh for every instance (``field(default_factory=...)``)."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def _field(*, default_factory: Callable[[], _T]) -> _T:
    """A field whose default is ``default_factory()``, called per instance."""
    return _Factory(default_factory)  # type: ignore[return-value]


class _Encodable:
    """Base of the spec values: keyword-only, frozen, slotted, compared and hashed by field values.

    A cheap stand-in for ``@dataclass(frozen=True, slots=True, kw_only=True)``: these types sit on
    ``lamina run``'s start-up path and dataclass generates and compiles code for every class at import.
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **values: Any) -> None:
        for name in self._fields:
            value = values.pop(name, _MISSING)
            if value is _MISSING:
                value = self._default(name)
            object.__setattr__(self, name, value)
        if values:
            raise TypeError(f"{type(self).__qualname__}() got an unexpected keyword argument {next(iter(values))!r}")

    def _default(self, name: str) -> Any:
        if name not in self._defaults:
            raise TypeError(f"{type(self).__qualname__}() missing required keyword-only argument: {name!r}")
        default = self._defaults[name]
        return default.make() if isinstance(default, _Factory) else default

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __getstate__(self) -> tuple[Any, ...]:  # copy and pickle, despite the frozen __setattr__
        return self._values()

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self._fields, state, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({inner})"

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


_E = TypeVar("_E", bound=_Encodable)


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(_field,))
def _spec(cls: type[_E]) -> type[_E]:
    """Turn a class body of annotated fields into a slotted ``_Encodable`` (fields in declaration order)."""
    namespace = dict(cls.__dict__)
    names = tuple(cls.__annotations__)
    defaults = {name: namespace.pop(name) for name in names if name in namespace}
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    namespace.update(__slots__=names, _fields=names, _defaults=defaults)
    made: type[_E] = type(cls.__name__, cls.__bases__, namespace)
    return made


@_spec
class User(_Encodable):
    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    umask: int | None = None


@_spec
class Rlimit(_Encodable):
    type: str  # "RLIMIT_NOFILE"
    soft: int
    hard: int


@_spec
class Capabilities(_Encodable):
    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


@_spec
class Process(_Encodable):
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    user: User = _field(default_factory=User)
    terminal: bool = False
    rlimits: tuple[Rlimit, ...] = ()
    capabilities: Capabilities | None = None
    no_new_privileges: bool = False
    oom_score_adj: int | None = None


@_spec
class Root(_Encodable):
    path: str
    readonly: bool = False


@_spec
class Mount(_Encodable):
    destination: str
    type: str | None = None
    source: str | None = None
    options: tuple[str, ...] = ()


@_spec
class Namespace(_Encodable):
    type: str  # pid | network | mount | ipc | uts | user | cgroup
    path: str | None = None


@_spec
class Memory(_Encodable):
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None  # memory+swap, as in the spec (and cgroup v1 memsw)


@_spec
class Cpu(_Encodable):
    shares: int | None = None
    quota: int | None = None
    period: int | None = None


@_spec
class Pids(_Encodable):
    limit: int


@_spec
class DeviceRule(_Encodable):
    allow: bool
    type: str | None = None  # "a" | "c" | "b"
    major: int | None = None
    minor: int | None = None
    access: str | None = None  # any of "rwm"


@_spec
class Resources(_Encodable):
    devices: tuple[DeviceRule, ...] = ()
    memory: Memory | None = None
    cpu: Cpu | None = None
    pids: Pids | None = None


@_spec
class Linux(_Encodable):
    namespaces: tuple[Namespace, ...] = ()
    resources: Resources | None = None
    cgroups_path: str | None = None
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    sysctl: Mapping[str, str] = _field(default_factory=dict)


@_spec
class Hook(_Encodable):
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


@_spec
class Hooks(_Encodable):
    prestart: tuple[Hook, ...] = ()
    create_runtime: tuple[Hook, ...] = ()
    create_container: tuple[Hook, ...] = ()
    start_container: tuple[Hook, ...] = ()
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()


@_spec
class RuntimeConfig(_Encodable):
    """The whole config.json of a bundle."""

    process: Process
    root: Root
    hostname: str | None = None
    mounts: tuple[Mount, ...] = ()
    linux: Linux | None = None
    hooks: Hooks | None = None
    annotations: Mapping[str, str] = _field(default_factory=dict)
    oci_version: str = OCI_VERSION
