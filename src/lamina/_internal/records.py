"""Frozen, slotted value classes without the ``dataclasses`` module: ``@record``, ``field``,
``fields``, ``replace`` and ``asdict``.

``dataclasses`` imports ``inspect`` (with ``ast``, ``dis`` and ``tokenize``: ~5 ms here) and
generates and compiles ``__init__``, ``__eq__``, ``__hash__``, ``__repr__`` and ``__setattr__`` for
every class (~0.2 ms each). The types on ``lamina run``'s start-up path (a whole ``run --rm`` takes
~60 ms) are records instead: one generic set of methods on ``Record``, and ``@record`` only reads
the class body. They behave like ``@dataclass(frozen=True, slots=True, kw_only=True)``: fields in
declaration order (a base record's first), defaults and ``field(default_factory=…)``,
``__post_init__``, equality and hashing by field values, ``copy``/``pickle``. ``@record(kw_only=False)``
also takes the fields positionally. mypy checks them through ``dataclass_transform``.

Not supported (no record needs them): ``init=False``/``compare=False`` fields, ordering, ``InitVar``.
Must not import anything from lamina.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

TYPE_CHECKING = False   # not typing's: importing typing costs run --rm ~1.6 ms (docs/internals.md)
if TYPE_CHECKING:
    from typing import Any, ClassVar, TypeVar, dataclass_transform
    _R = TypeVar("_R", bound="Record")
else:
    def dataclass_transform(**_options: object) -> object:
        return lambda fn: fn


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """Assigning to or deleting a field of a record."""


class Field:
    """A field's default: a value, or a factory called for every instance."""

    __slots__ = ("default", "factory")

    def __init__(self, default: Any = MISSING, factory: Callable[[], Any] | Any = MISSING) -> None:
        self.default, self.factory = default, factory


def field(*, default: Any = MISSING, default_factory: Any = MISSING) -> Any:
    """A field with a default value or a per-instance ``default_factory`` (as dataclasses' ``field``)."""
    return Field(default, default_factory)


class Record:
    """Base of records: generic dataclass methods over the class's ``_plan``."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _plan: ClassVar[tuple[tuple[str, Any, Any], ...]] = ()  # (name, default, factory)
    _positional: ClassVar[bool] = False

    def __init__(self, *args: Any, **values: Any) -> None:
        if args:
            self._take_positional(args, values)
        for name, default, factory in self._plan:
            if name in values:
                value = values.pop(name)
            elif factory is not MISSING:
                value = factory()
            elif default is not MISSING:
                value = default
            else:
                kind = "" if self._positional else " keyword-only"
                raise TypeError(f"{type(self).__qualname__}.__init__() missing required{kind} argument: {name!r}")
            object.__setattr__(self, name, value)
        if values:
            raise TypeError(f"{type(self).__qualname__}.__init__() got an unexpected keyword argument "
                            f"{next(iter(values))!r}")
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    def _take_positional(self, args: tuple[Any, ...], values: dict[str, Any]) -> None:
        if not self._positional or len(args) > len(self._fields):
            raise TypeError(f"{type(self).__qualname__}.__init__() takes {len(self._fields) if self._positional else 0}"
                            f" positional arguments but {len(args)} were given")
        for name, value in zip(self._fields, args, strict=False):
            if name in values:
                raise TypeError(f"{type(self).__qualname__}.__init__() got multiple values for argument {name!r}")
            values[name] = value

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({inner})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __getstate__(self) -> tuple[Any, ...]:  # copy and pickle, despite the frozen __setattr__
        return self._values()

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self._fields, state, strict=True):
            object.__setattr__(self, name, value)


def _is_classvar(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return str(text).startswith(("ClassVar", "typing.ClassVar"))


def _make(cls: type[_R], kw_only: bool) -> type[_R]:
    namespace = dict(cls.__dict__)
    base_plan = next((b._plan for b in cls.__mro__[1:] if issubclass(b, Record) and b._plan), ())
    own = [name for name, ann in namespace.get("__annotations__", {}).items() if not _is_classvar(ann)]
    plan = {name: (name, d, f) for name, d, f in base_plan}
    for name in own:
        default = namespace.pop(name, MISSING)
        plan[name] = (name, default.default, default.factory) if isinstance(default, Field) else \
            (name, default, MISSING)
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    slots = tuple(name for name in own if name not in {n for n, _, _ in base_plan})
    namespace.update(__slots__=slots, _plan=tuple(plan.values()), _fields=tuple(plan),
                     _positional=not kw_only)
    made: type[_R] = type(cls.__name__, cls.__bases__, namespace)
    return made


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(field, Field))
def record(cls: type[_R] | None = None, /, *, kw_only: bool = True) -> Any:
    """Make a ``Record`` subclass's annotated body its fields (see the module docstring)."""
    if cls is None:
        return lambda c: _make(c, kw_only)
    return _make(cls, kw_only)


def fields(obj: Record | type[Record]) -> tuple[str, ...]:
    """The field names, in order."""
    return obj._fields


def replace(obj: _R, /, **changes: Any) -> _R:
    """A copy of *obj* with *changes* (``dataclasses.replace``)."""
    values = {name: getattr(obj, name) for name in obj._fields}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(obj).__qualname__} has no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return type(obj)(**values)


def asdict(obj: Record) -> dict[str, Any]:
    """Fields as a dict, nested records, lists, tuples and dicts converted too (``dataclasses.asdict``)."""
    return {name: _plain(getattr(obj, name)) for name in obj._fields}


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return asdict(value)
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return type(value)((_plain(k), _plain(v)) for k, v in value.items())
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value
