"""Container records: the lifecycle states, their allowed transitions, and the record itself.

Must not do I/O: ``store`` persists these values, ``manager`` changes them. A record
is split in two documents because they change at different rates: ``Container``
(config.json, written once at create) and ``ContainerState`` (state.json, rewritten
atomically by whoever observes a transition: the CLI, the monitor, reconciliation).
"""

from __future__ import annotations

import enum
import random
import time
from dataclasses import MISSING, FrozenInstanceError, asdict, dataclass, field, fields
from typing import Any, ClassVar, TypeVar, dataclass_transform

from lamina.errors import InvalidStateTransition

_V = TypeVar("_V")


class Value:
    """Base of ``value_type`` classes: the frozen dataclass methods, written once instead of per class.

    ``@dataclass(frozen=True)`` generates and compiles ``__init__``, ``__eq__``, ``__hash__``,
    ``__repr__`` and ``__setattr__`` for every class at import (~1.5 ms each, on ``lamina run``'s
    start-up path); these generic ones behave the same for fields without ``init``/``compare``
    flags and classes without ``__post_init__``.
    """

    __slots__ = ()
    _plan: ClassVar[tuple[tuple[str, Any, Any], ...]] = ()  # (name, default, default_factory)

    def __init__(self, **values: Any) -> None:
        for name, default, factory in self._plan:
            if name in values:
                value = values.pop(name)
            elif factory is not MISSING:
                value = factory()
            elif default is not MISSING:
                value = default
            else:
                raise TypeError(f"{type(self).__qualname__}.__init__() missing required keyword-only "
                                f"argument: {name!r}")
            object.__setattr__(self, name, value)
        if values:
            raise TypeError(f"{type(self).__qualname__}.__init__() got an unexpected keyword argument "
                            f"{next(iter(values))!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name, _, _ in self._plan)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Value)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name, _, _ in self._plan)
        return f"{type(self).__qualname__}({inner})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __getstate__(self) -> list[Any]:
        return list(self._values())

    def __setstate__(self, state: list[Any]) -> None:
        for (name, _, _), value in zip(self._plan, state, strict=True):
            object.__setattr__(self, name, value)


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(field,))
def value_type(cls: type[_V]) -> type[_V]:
    """A frozen, slotted, keyword-only dataclass (``fields``/``asdict``/``replace`` work) over ``Value``."""
    made: Any = dataclass(init=False, repr=False, eq=False, slots=True, kw_only=True)(cls)
    made._plan = tuple((f.name, f.default, f.default_factory) for f in fields(made))
    return made  # type: ignore[no-any-return]


class State(enum.StrEnum):
    CREATED = "created"        # record, rw layer and bundle exist; no process yet
    RUNNING = "running"        # the init process runs (pid set)
    PAUSED = "paused"          # frozen by the runtime (not produced by lamina yet)
    RESTARTING = "restarting"  # between stop and start of ``restart``
    EXITED = "exited"          # the process ended; exit code and finish time recorded
    DEAD = "dead"              # removal failed half-way; only ``rm -f`` is allowed


ALLOWED: dict[State, frozenset[State]] = {
    State.CREATED: frozenset({State.RUNNING, State.EXITED, State.DEAD}),
    State.RUNNING: frozenset({State.EXITED, State.PAUSED, State.RESTARTING, State.DEAD}),
    State.PAUSED: frozenset({State.RUNNING, State.EXITED, State.DEAD}),
    State.RESTARTING: frozenset({State.RUNNING, State.EXITED, State.DEAD}),
    State.EXITED: frozenset({State.RUNNING, State.RESTARTING, State.DEAD}),
    State.DEAD: frozenset(),
}


def check_transition(name: str, current: State, target: State, action: str) -> None:
    """Raise ``InvalidStateTransition`` unless *current* may become *target*."""
    if target not in ALLOWED[current]:
        raise InvalidStateTransition(name, current.value, action)


@value_type
class MountRecord(Value):
    """A mount as ``inspect`` shows it; ``name`` is set for volumes (anonymous or named)."""

    type: str                  # "bind" | "volume" | "tmpfs"
    destination: str
    source: str = ""
    name: str = ""
    read_only: bool = False
    anonymous: bool = False

    def to_inspect(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Type": self.type}
        if self.name:
            out["Name"] = self.name
        out.update({"Source": self.source, "Destination": self.destination})
        if self.type == "volume":
            out["Driver"] = "local"
        out.update({"Mode": "" if self.type != "volume" else "z", "RW": not self.read_only,
                    "Propagation": "rprivate" if self.type == "bind" else ""})
        return out


@value_type
class Container(Value):
    """What ``create`` decided; immutable afterwards (config.json)."""

    id: str                        # 64 hex
    name: str                      # without docker's leading "/"
    image_id: str                  # "sha256:…"
    image_name: str                # as the user typed it (ps IMAGE column)
    layer_id: str                  # the rw layer's driver id
    init_layer_id: str | None      # docker's "-init" layer (mount points), None for --rm runs
    parent_layer_id: str | None    # the image's top layer
    created: str                   # RFC 3339
    path: str                      # process.args[0]
    args: tuple[str, ...]          # process.args[1:]
    env: tuple[str, ...]
    hostname: str
    options: dict[str, Any]        # RunOptions as JSON (without mounts)
    image_config: dict[str, Any]   # the image config's "config" object at create time
    mounts: tuple[MountRecord, ...] = ()
    auto_remove: bool = False
    tty: bool = False
    interactive: bool = False
    stop_signal: str = "SIGTERM"
    stop_timeout: int = 10

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["mounts"] = [asdict(m) for m in self.mounts]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Container:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["args"] = tuple(kwargs.get("args", ()))
        kwargs["env"] = tuple(kwargs.get("env", ()))
        kwargs["mounts"] = tuple(MountRecord(**m) for m in kwargs.get("mounts", ()))
        return cls(**kwargs)

    @property
    def command(self) -> str:
        return " ".join([self.path, *self.args])


@value_type
class ContainerState(Value):
    """What changes while the container lives (state.json)."""

    status: State = State.CREATED
    pid: int = 0
    exit_code: int = 0
    started_at: str = ""
    finished_at: str = ""
    oom_killed: bool = False
    error: str = ""
    restart_count: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.status in (State.RUNNING, State.PAUSED, State.RESTARTING)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerState:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["status"] = State(kwargs.get("status", "created"))
        return cls(**kwargs)


# docker's names-generator, in small: adjective_surname
_LEFT = ("admiring", "adoring", "affectionate", "amazing", "awesome", "blissful", "bold", "brave",
         "charming", "clever", "compassionate", "competent", "confident", "cool", "dazzling", "determined",
         "eager", "ecstatic", "elastic", "elegant", "epic", "exciting", "fervent", "festive", "focused",
         "friendly", "frosty", "gallant", "gifted", "goofy", "gracious", "happy", "hopeful", "hungry",
         "inspiring", "intelligent", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid",
         "magical", "modest", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic",
         "peaceful", "pensive", "practical", "priceless", "quirky", "quizzical", "relaxed", "reverent",
         "romantic", "serene", "sharp", "silly", "sleepy", "stoic", "strange", "sweet", "tender",
         "thirsty", "trusting", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly", "wonderful",
         "youthful", "zealous", "zen")
_RIGHT = ("agnesi", "albattani", "allen", "archimedes", "babbage", "bardeen", "bell", "blackwell",
          "bohr", "brahmagupta", "cannon", "carson", "cerf", "chandrasekhar", "curie", "darwin",
          "dijkstra", "einstein", "euclid", "euler", "fermat", "feynman", "franklin", "galileo", "gauss",
          "goldberg", "goodall", "hamilton", "hawking", "heisenberg", "hodgkin", "hopper", "hypatia",
          "jackson", "johnson", "kepler", "knuth", "lamarr", "lovelace", "mayer", "mccarthy", "meitner",
          "mirzakhani", "morse", "newton", "nobel", "noether", "pascal", "pasteur", "perlman", "pike",
          "poincare", "ritchie", "rosalind", "shannon", "shockley", "sinoussi", "stonebraker", "tesla",
          "thompson", "torvalds", "turing", "wescoff", "wiles", "williams", "wozniak", "wright", "yalow")


def random_name(rng: random.Random | None = None) -> str:
    """A docker-style ``adjective_surname`` name (docker never makes "boring_wozniak"; neither do we)."""
    pick = rng or random.SystemRandom()
    while True:
        name = f"{pick.choice(_LEFT)}_{pick.choice(_RIGHT)}"
        if name != "boring_wozniak":
            return name


def timestamp_ns(ns: int | None = None) -> str:
    """RFC 3339 UTC with nanoseconds, as Go's RFC3339Nano writes it (trailing zeros trimmed)."""
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    fraction = f".{frac:09d}".rstrip("0") if frac else ""
    return f"{text}{fraction}Z"
