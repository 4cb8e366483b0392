"""Container records: the lifecycle states, their allowed transitions, and the record itself.

Must not do I/O: ``store`` persists these values, ``manager`` changes them. A record
is split in two documents because they change at different rates: ``Container``
(config.json, written once at create) and ``ContainerState`` (state.json, rewritten
atomically by whoever observes a transition: the CLI, the monitor, reconciliation).
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Sequence

from lamina._internal.records import Record, asdict, field, fields, record
from lamina.errors import InvalidStateTransition

TYPE_CHECKING = False
if TYPE_CHECKING:
    import random
    from typing import Any

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


@record
class MountRecord(Record):
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


@record
class Container(Record):
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
    labels: dict[str, str] = field(default_factory=dict)   # --label (the image's are in image_config)

    @property
    def all_labels(self) -> dict[str, str]:
        """The image's labels and the container's ``--label``s over them, as docker shows them."""
        return {**(self.image_config.get("Labels") or {}), **self.labels}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["mounts"] = [asdict(m) for m in self.mounts]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Container:
        known = set(fields(cls))
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["args"] = tuple(kwargs.get("args", ()))
        kwargs["env"] = tuple(kwargs.get("env", ()))
        kwargs["mounts"] = tuple(MountRecord(**m) for m in kwargs.get("mounts", ()))
        return cls(**kwargs)

    @property
    def command(self) -> str:
        return " ".join([self.path, *self.args])


@record
class ContainerState(Record):
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

    @property
    def health(self) -> dict[str, Any] | None:
        """docker's ``State.Health`` (Status, FailingStreak, Log) of a container with a health check."""
        health = self.extra.get("health")
        return dict(health) if isinstance(health, dict) else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerState:
        known = set(fields(cls))
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


class _UrandomChooser:
    """``choice`` from os.urandom: the ``random`` module is not worth importing for a name."""

    def choice(self, seq: Sequence[str]) -> str:
        return seq[int.from_bytes(os.urandom(4), "big") % len(seq)]


def random_name(rng: random.Random | None = None) -> str:
    """A docker-style ``adjective_surname`` name (docker never makes "boring_wozniak"; neither do we)."""
    pick = rng or _UrandomChooser()
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
