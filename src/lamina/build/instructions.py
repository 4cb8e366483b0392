"""Typed Dockerfile instructions: parser nodes -> frozen dataclasses, grouped into stages.

``parse_dockerfile(text, file)`` returns a ``Dockerfile`` (stages, meta ARGs before the first FROM,
directives, parser warnings).  Every instruction keeps ``location`` (first, last line) and
``original`` text; every error is a ``DockerfileError`` naming file, lines and instruction, with
BuildKit's wording where it has one (lower-cased).  Values are kept *unexpanded*: variable expansion
is ``lamina.build.shell.expand_instruction``'s job, at build time, with the right environment.

Conventions: command lines are tuples.  ``shell_form=True`` means ``cmd`` is a 1-tuple holding the
script text to hand to the SHELL; otherwise ``cmd`` is the exec-form argv.  Durations are integer
nanoseconds (0 = not set), as in the image config.  ``ARG a b=c`` yields one ``Arg`` per name, all
sharing the line's ``location`` and ``original``.

Must not: expand variables, read the build context, or import anything beyond the parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, TypedDict

from lamina.build.parser import Heredoc, Node, ParseResult, heredoc_words, parse
from lamina.errors import DockerfileError

__all__ = [
    "Add", "Arg", "Cmd", "Copy", "Dockerfile", "Entrypoint", "Env", "Expose", "From", "Healthcheck",
    "Instruction", "Label", "Maintainer", "Onbuild", "Run", "RunMount", "Shell", "Stage", "Stopsignal",
    "User", "Volume", "Workdir", "parse_dockerfile", "parse_go_duration", "parse_mount",
]


# ---------------------------------------------------------------------- instruction types
@dataclass(frozen=True, slots=True, kw_only=True)
class Instruction:
    keyword: ClassVar[str] = ""
    location: tuple[int, int]
    original: str


@dataclass(frozen=True, slots=True, kw_only=True)
class From(Instruction):
    keyword: ClassVar[str] = "FROM"
    image: str
    stage_name: str | None = None
    platform: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunMount:
    """One ``RUN --mount=...``; ``spec`` is the raw CSV so it can be re-parsed after expansion."""

    spec: str
    type: str = "bind"
    target: str = ""
    source: str = ""
    from_: str = ""
    id: str = ""
    sharing: str = ""
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    readonly: bool = True
    required: bool = False
    size: int | None = None
    env: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Run(Instruction):
    keyword: ClassVar[str] = "RUN"
    cmd: tuple[str, ...]
    shell_form: bool
    mounts: tuple[RunMount, ...] = ()
    network: str | None = None
    security: str | None = None
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Copy(Instruction):
    keyword: ClassVar[str] = "COPY"
    sources: tuple[str, ...]
    dest: str
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Add(Instruction):
    keyword: ClassVar[str] = "ADD"
    sources: tuple[str, ...]
    dest: str
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    checksum: str | None = None
    keep_git_dir: bool = False
    unpack: bool | None = None  # None: auto-extract local tar archives (docker's default)
    exclude: tuple[str, ...] = ()
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Env(Instruction):
    keyword: ClassVar[str] = "ENV"
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Arg(Instruction):
    keyword: ClassVar[str] = "ARG"
    name: str
    default: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Label(Instruction):
    keyword: ClassVar[str] = "LABEL"
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Workdir(Instruction):
    keyword: ClassVar[str] = "WORKDIR"
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class User(Instruction):
    keyword: ClassVar[str] = "USER"
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Expose(Instruction):
    keyword: ClassVar[str] = "EXPOSE"
    ports: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Volume(Instruction):
    keyword: ClassVar[str] = "VOLUME"
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Cmd(Instruction):
    keyword: ClassVar[str] = "CMD"
    cmd: tuple[str, ...]
    shell_form: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Entrypoint(Instruction):
    keyword: ClassVar[str] = "ENTRYPOINT"
    cmd: tuple[str, ...]
    shell_form: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Healthcheck(Instruction):
    """``test`` is ``("NONE",)``, ``("CMD", argv...)`` or ``("CMD-SHELL", script)``."""

    keyword: ClassVar[str] = "HEALTHCHECK"
    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Stopsignal(Instruction):
    keyword: ClassVar[str] = "STOPSIGNAL"
    signal: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Onbuild(Instruction):
    """``expression`` is the trigger text as stored in the image config's ``OnBuild`` list."""

    keyword: ClassVar[str] = "ONBUILD"
    inner: Instruction
    expression: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Maintainer(Instruction):
    keyword: ClassVar[str] = "MAINTAINER"
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Shell(Instruction):
    keyword: ClassVar[str] = "SHELL"
    shell: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Stage:
    """A build stage: ``FROM base [AS name]`` and its instructions (the FROM itself excluded)."""

    name: str | None
    base: str
    platform: str | None
    instructions: tuple[Instruction, ...]
    index: int
    from_: From | None = None


@dataclass(frozen=True, slots=True)
class Dockerfile:
    stages: tuple[Stage, ...]
    meta_args: tuple[Arg, ...]
    directives: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    file: str = "Dockerfile"
    escape: str = "\\"

    def stage(self, target: str | int) -> Stage:
        """A stage by name (case-insensitive) or index; ``DockerfileError`` if there is none."""
        for stage in self.stages:
            if stage.index == target or (isinstance(target, str) and stage.name == target.lower()):
                return stage
        if isinstance(target, str) and target.isdecimal() and int(target) < len(self.stages):
            return self.stages[int(target)]
        raise DockerfileError(f"target stage {target!r} could not be found", file=self.file)


# ---------------------------------------------------------------------- errors and flags
class _Where(TypedDict):
    location: tuple[int, int]
    original: str


class _Request:
    """One node being parsed, with its file name for errors."""

    def __init__(self, node: Node, file: str) -> None:
        self.node = node
        self.file = file
        self.args = node.args
        self.where = _Where(location=node.location, original=node.original)

    def error(self, message: str) -> DockerfileError:
        return DockerfileError(message, file=self.file, location=self.node.location,
                               instruction=self.node.original.split("\n", 1)[0])

    def flags(self, spec: dict[str, str]) -> dict[str, str | bool | list[str]]:
        """Parse ``--name[=value]`` flags; ``spec`` maps name -> ``bool`` | ``str`` | ``strs``."""
        values: dict[str, str | bool | list[str]] = {}
        for raw in self.node.flags:
            name, eq, value = raw[2:].partition("=")
            kind = spec.get(name)
            if kind is None:
                raise self.error(f"unknown flag: --{name}")
            if name in values and kind != "strs":
                raise self.error(f"duplicate flag specified: --{name}")
            values[name] = self._flag_value(name, kind, bool(eq), value, values)
        return values

    def _flag_value(self, name: str, kind: str, has_eq: bool, value: str,
                    seen: dict[str, str | bool | list[str]]) -> str | bool | list[str]:
        if kind == "bool":
            if has_eq and not value:
                raise self.error(f"missing a value on flag: --{name}")
            if value.lower() not in ("", "true", "false"):
                raise self.error(f"expecting boolean value for flag --{name}, not: {value}")
            return value.lower() != "false"
        if not has_eq:
            raise self.error(f"missing a value on flag: --{name}")
        if kind == "strs":
            previous = seen.get(name, [])
            return [*previous, value] if isinstance(previous, list) else [value]
        return value

    def exactly_one(self) -> str:
        if len(self.args) != 1:
            raise self.error(f"{self.node.command} requires exactly one argument")
        return self.args[0]

    def at_least_one(self) -> tuple[str, ...]:
        if not self.args:
            raise self.error(f"{self.node.command} requires at least one argument")
        return self.args


def _str(values: dict[str, str | bool | list[str]], name: str) -> str | None:
    value = values.get(name)
    return value if isinstance(value, str) else None


def _bool(values: dict[str, str | bool | list[str]], name: str) -> bool:
    return values.get(name) is True


def _strs(values: dict[str, str | bool | list[str]], name: str) -> tuple[str, ...]:
    value = values.get(name)
    return tuple(value) if isinstance(value, list) else ()


# ---------------------------------------------------------------------- per-instruction parsers
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")


def _parse_from(req: _Request) -> list[Instruction]:
    flags = req.flags({"platform": "str"})
    args = req.args
    if not (len(args) == 1 or (len(args) == 3 and args[1].lower() == "as")):
        raise req.error("FROM requires either one or three arguments")
    written = args[-1] if len(args) == 3 else None
    name = written.lower() if written is not None else None
    if name is not None and not _STAGE_NAME.match(name):
        raise req.error(f"invalid name for build stage: {written!r}, "
                        "name can't start with a number or contain symbols")
    return [From(image=args[0], stage_name=name, platform=_str(flags, "platform"), **req.where)]


def _command_line(req: _Request) -> tuple[tuple[str, ...], bool]:
    if req.node.json:
        return req.args, False
    return ((" ".join(req.args),) if req.args else ()), True


def _parse_run(req: _Request) -> list[Instruction]:
    flags = req.flags({"mount": "strs", "network": "str", "security": "str", "device": "strs"})
    cmd, shell_form = _command_line(req)
    if not cmd and not req.node.heredocs:
        raise req.error("RUN requires at least one argument")
    network = _str(flags, "network")
    if network is not None and network not in ("default", "none", "host"):
        raise req.error(f"unsupported network mode {network!r}")
    security = _str(flags, "security")
    if security is not None and security not in ("sandbox", "insecure"):
        raise req.error(f"unsupported security mode {security!r}")
    try:
        mounts = tuple(parse_mount(spec) for spec in _strs(flags, "mount"))
    except ValueError as exc:
        raise req.error(str(exc)) from None
    return [Run(cmd=cmd, shell_form=shell_form, mounts=mounts, network=network, security=security,
                heredocs=req.node.heredocs, **req.where)]


def _parse_cmd(req: _Request) -> list[Instruction]:
    req.flags({})
    cmd, shell_form = _command_line(req)
    kind = Cmd if req.node.command == "CMD" else Entrypoint
    return [kind(cmd=cmd, shell_form=shell_form, **req.where)]


def _parse_shell(req: _Request) -> list[Instruction]:
    req.flags({})
    args = req.at_least_one()
    if not req.node.json:
        raise req.error("SHELL requires the arguments to be in JSON form")
    return [Shell(shell=args, **req.where)]


def _pairs(req: _Request) -> tuple[tuple[str, str], ...]:
    req.flags({})
    args = req.at_least_one()
    if len(args) % 3:
        raise req.error(f"bad input to {req.node.command}, too many arguments")
    return tuple((args[i], args[i + 1]) for i in range(0, len(args), 3))


def _parse_env(req: _Request) -> list[Instruction]:
    return [Env(pairs=_pairs(req), **req.where)]


def _parse_label(req: _Request) -> list[Instruction]:
    return [Label(pairs=_pairs(req), **req.where)]


def _parse_arg(req: _Request) -> list[Instruction]:
    req.flags({})
    out: list[Instruction] = []
    for word in req.at_least_one():
        name, eq, default = word.partition("=")
        if not name:
            raise req.error("ARG names can not be blank")
        out.append(Arg(name=name, default=default if eq else None, **req.where))
    return out


def _sources_and_dest(req: _Request) -> tuple[tuple[str, ...], str, tuple[Heredoc, ...]]:
    args = req.args
    if len(args) < 2:
        raise req.error(f"{req.node.command} requires at least two arguments, but only one was provided. "
                        "Destination could not be determined.")
    names = {doc.name for doc in req.node.heredocs}
    sources: list[str] = []
    for word in args[:-1]:
        marker = heredoc_words(word) if names and not req.node.json else []
        if not (marker and marker[0].name in names):
            sources.append(word)
    return tuple(sources), args[-1], req.node.heredocs


def _parse_copy(req: _Request) -> list[Instruction]:
    flags = req.flags({"from": "str", "chown": "str", "chmod": "str", "link": "bool", "parents": "bool",
                       "exclude": "strs"})
    sources, dest, heredocs = _sources_and_dest(req)
    return [Copy(sources=sources, dest=dest, from_=_str(flags, "from"), chown=_str(flags, "chown"),
                 chmod=_str(flags, "chmod"), link=_bool(flags, "link"), parents=_bool(flags, "parents"),
                 exclude=_strs(flags, "exclude"), heredocs=heredocs, **req.where)]


def _parse_add(req: _Request) -> list[Instruction]:
    flags = req.flags({"chown": "str", "chmod": "str", "link": "bool", "keep-git-dir": "bool",
                       "checksum": "str", "exclude": "strs", "unpack": "bool"})
    sources, dest, heredocs = _sources_and_dest(req)
    unpack = flags.get("unpack")
    return [Add(sources=sources, dest=dest, chown=_str(flags, "chown"), chmod=_str(flags, "chmod"),
                link=_bool(flags, "link"), checksum=_str(flags, "checksum"),
                keep_git_dir=_bool(flags, "keep-git-dir"),
                unpack=unpack if isinstance(unpack, bool) else None,
                exclude=_strs(flags, "exclude"), heredocs=heredocs, **req.where)]


def _parse_single(req: _Request) -> list[Instruction]:
    req.flags({})
    value = req.exactly_one()
    command = req.node.command
    if command == "WORKDIR":
        return [Workdir(path=value, **req.where)]
    if command == "USER":
        return [User(user=value, **req.where)]
    if command == "STOPSIGNAL":
        return [Stopsignal(signal=value, **req.where)]
    return [Maintainer(name=value, **req.where)]


def _parse_expose(req: _Request) -> list[Instruction]:
    req.flags({})
    return [Expose(ports=req.at_least_one(), **req.where)]


def _parse_volume(req: _Request) -> list[Instruction]:
    req.flags({})
    paths = req.at_least_one()
    if any(not p.strip() for p in paths):
        raise req.error("VOLUME specified can not be an empty string")
    return [Volume(paths=paths, **req.where)]


_DURATION_FLAGS = ("interval", "timeout", "start-period", "start-interval")


def _parse_healthcheck(req: _Request) -> list[Instruction]:
    flags = req.flags({"interval": "str", "timeout": "str", "start-period": "str", "start-interval": "str",
                       "retries": "str"})
    args = req.at_least_one()
    kind, rest = args[0].upper(), args[1:]
    if kind == "NONE":
        if rest:
            raise req.error("HEALTHCHECK NONE takes no arguments")
        return [Healthcheck(test=("NONE",), **req.where)]
    if kind != "CMD":
        raise req.error(f'unknown type "{kind}" in HEALTHCHECK (try CMD)')
    if not rest or (not req.node.json and not rest[0].strip()):
        raise req.error("missing command after HEALTHCHECK CMD")
    test = ("CMD", *rest) if req.node.json else ("CMD-SHELL", " ".join(rest))
    durations = {name: _interval(req, name, _str(flags, name)) for name in _DURATION_FLAGS}
    return [Healthcheck(test=test, interval=durations["interval"], timeout=durations["timeout"],
                        start_period=durations["start-period"], start_interval=durations["start-interval"],
                        retries=_retries(req, _str(flags, "retries")), **req.where)]


def _interval(req: _Request, name: str, text: str | None) -> int:
    if not text:
        return 0
    try:
        value = parse_go_duration(text)
    except ValueError as exc:
        raise req.error(str(exc)) from None
    if 0 < value < 1_000_000 or value < 0:
        raise req.error(f'interval "{name}" cannot be less than 1ms')
    return value


def _retries(req: _Request, text: str | None) -> int:
    if not text:
        return 0
    try:
        retries = int(text, 10)
    except ValueError:
        raise req.error(f"invalid value for --retries: {text!r}") from None
    if retries < 0:
        raise req.error(f"--retries cannot be negative ({retries})")
    return retries


_ONBUILD_FORBIDDEN = frozenset({"ONBUILD", "FROM", "MAINTAINER"})
_ONBUILD_PREFIX = re.compile(r"(?i)^\s*ONBUILD\s*")


def _parse_onbuild(req: _Request) -> list[Instruction]:
    req.flags({})
    child = req.node.child
    if child is None:
        raise req.error("ONBUILD requires at least one argument")
    if child.command in _ONBUILD_FORBIDDEN:
        raise req.error(f"{child.command} isn't allowed as an ONBUILD trigger")
    inner = parse_node(child, req.file)
    expression = _ONBUILD_PREFIX.sub("", req.node.original, count=1).strip()
    return [Onbuild(inner=inner[0], expression=expression, **req.where)]


_PARSERS: dict[str, Callable[[_Request], list[Instruction]]] = {
    "FROM": _parse_from, "RUN": _parse_run, "CMD": _parse_cmd, "ENTRYPOINT": _parse_cmd,
    "SHELL": _parse_shell, "ENV": _parse_env, "LABEL": _parse_label, "ARG": _parse_arg,
    "COPY": _parse_copy, "ADD": _parse_add, "WORKDIR": _parse_single, "USER": _parse_single,
    "STOPSIGNAL": _parse_single, "MAINTAINER": _parse_single, "EXPOSE": _parse_expose,
    "VOLUME": _parse_volume, "HEALTHCHECK": _parse_healthcheck, "ONBUILD": _parse_onbuild,
}


def parse_node(node: Node, file: str = "Dockerfile") -> list[Instruction]:
    """Turn one parser node into its instruction(s) (several only for ``ARG a b``)."""
    req = _Request(node, file)
    parser = _PARSERS.get(node.command)
    if parser is None:
        import difflib

        message = f"unknown instruction: {node.command}"
        close = difflib.get_close_matches(node.command, list(_PARSERS), n=1, cutoff=0.75)
        raise req.error(message + (f" (did you mean {close[0].lower()}?)" if close else ""))
    return parser(req)


# ---------------------------------------------------------------------- mounts
_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_SHARING = ("shared", "private", "locked")
_MOUNT_KEYS = {"target": "target", "dst": "target", "destination": "target", "source": "source",
               "src": "source", "from": "from_", "id": "id", "env": "env"}


def parse_mount(spec: str, expand: Callable[[str], str] | None = None) -> RunMount:
    """Parse one ``--mount`` CSV value (BuildKit's rules); ``expand`` expands each value first.

    Without ``expand``, values holding ``$`` are kept raw and validated later (after expansion).
    Raises ``ValueError`` with BuildKit's message.
    """
    import csv

    fields = next(csv.reader([spec]), [])
    values: dict[str, object] = {"spec": spec}
    ro_auto = True
    for item in fields:
        key, eq, value = item.partition("=")
        key = key.lower()
        if not eq:
            ro_auto = _mount_bare_key(values, key, item) and ro_auto
            continue
        if expand is not None:
            value = expand(value)
        ro_auto = _mount_key(values, key, value, item, deferred=expand is None and "$" in value) and ro_auto
    return _validated_mount(values, ro_auto)


def _mount_bare_key(values: dict[str, object], key: str, item: str) -> bool:
    """A key without ``=``; returns whether the read-only default still applies."""
    if key in ("readonly", "ro", "readwrite", "rw"):
        values["readonly"] = key in ("readonly", "ro")
        return False
    if key == "required":
        if values.get("type") not in ("secret", "ssh"):
            raise ValueError(f"unexpected key '{key}' for mount type '{values.get('type', 'bind')}'")
        values["required"] = True
        return True
    raise ValueError(f"invalid field '{item}' must be a key=value pair")


def _mount_key(values: dict[str, object], key: str, value: str, item: str, deferred: bool) -> bool:
    if key in _MOUNT_KEYS:
        values[_MOUNT_KEYS[key]] = value
    elif key == "type":
        if not deferred and value.lower() not in _MOUNT_TYPES:
            raise ValueError(f"unsupported mount type {value!r}")
        values["type"] = value.lower()
    elif key == "sharing":
        if not deferred and value.lower() not in _SHARING:
            raise ValueError(f"unsupported sharing value {value!r}")
        values["sharing"] = value.lower()
    elif key in ("readonly", "ro", "readwrite", "rw", "required"):
        return _mount_bool(values, key, value)
    elif key in ("mode", "uid", "gid", "size"):
        values[key] = None if deferred else _mount_number(key, value)
    else:
        raise ValueError(f"unexpected key '{key}' in '{item}'")
    return True


def _mount_bool(values: dict[str, object], key: str, value: str) -> bool:
    truth = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}.get(value.lower())
    if truth is None:
        raise ValueError(f"invalid value for {key}: {value}")
    if key == "required":
        if values.get("type") not in ("secret", "ssh"):
            raise ValueError(f"unexpected key '{key}' for mount type '{values.get('type', 'bind')}'")
        values["required"] = truth
        return True
    values["readonly"] = truth if key in ("readonly", "ro") else not truth
    return False


_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30,
               "gb": 1 << 30, "t": 1 << 40, "tb": 1 << 40}


def _mount_number(key: str, value: str) -> int:
    try:
        if key == "mode":
            return int(value, 8)
        if key == "size":
            match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)", value.strip())
            if not match or match.group(2).lower() not in _SIZE_UNITS:
                raise ValueError(value)
            return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
        return int(value, 10)
    except ValueError:
        raise ValueError(f"invalid value {value} for {key}") from None


def _validated_mount(values: dict[str, object], ro_auto: bool) -> RunMount:
    kind = str(values.get("type", "bind"))
    if kind not in ("secret", "ssh", "cache"):
        for key in ("mode", "uid", "gid"):
            if values.get(key) is not None:
                raise ValueError(f'{key} not allowed for "{kind}" type mounts')
    if values.get("size") is not None and kind != "tmpfs":
        raise ValueError(f"unexpected key 'size' for mount type '{kind}'")
    if ro_auto:
        values["readonly"] = kind not in ("cache", "tmpfs")
    if kind == "secret":
        if values.get("from_"):
            raise ValueError("secret mount should not have a from")
        if values.get("sharing"):
            raise ValueError("secret mount should not define sharing")
    if values.get("sharing") and kind != "cache":
        raise ValueError(f"invalid cache sharing set for {kind} mount")
    return RunMount(**values)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- durations
_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9,
                   "m": 60 * 10**9, "h": 3600 * 10**9}
_DURATION_PART = re.compile(r"(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` (``1m30s``, ``1.5h``, ``300ms``) in integer nanoseconds."""
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    if body == "0":
        return 0
    pos, total = 0, 0.0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if not match or match.group(1) in ("", "."):
            raise ValueError(f"time: invalid duration {text!r}")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not body:
        raise ValueError(f"time: invalid duration {text!r}")
    return sign * round(total)


# ---------------------------------------------------------------------- whole files
def parse_dockerfile(text: str, file: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile ``text`` into stages of typed instructions."""
    result = parse(text, file)
    return build_dockerfile(result)


def build_dockerfile(result: ParseResult) -> Dockerfile:
    """Group the parser's nodes into meta ARGs and stages."""
    meta: list[Arg] = []
    stages: list[Stage] = []
    current: tuple[From, list[Instruction]] | None = None
    for node in result.nodes:
        for instruction in parse_node(node, result.file):
            if isinstance(instruction, From):
                if current:
                    stages.append(_stage(current, len(stages)))
                current = (instruction, [])
            elif current is not None:
                current[1].append(instruction)
            elif isinstance(instruction, Arg):
                meta.append(instruction)
            else:
                raise DockerfileError("no build stage in current context", file=result.file,
                                      location=instruction.location, instruction=instruction.original)
    if current is None:
        raise DockerfileError("dockerfile contains no stages to build", file=result.file)
    stages.append(_stage(current, len(stages)))
    _check_stage_names(stages, result.file)
    return Dockerfile(tuple(stages), tuple(meta), {d.name: d.value for d in result.directives},
                      tuple(w.message for w in result.warnings), result.file, result.escape)


def _stage(current: tuple[From, list[Instruction]], index: int) -> Stage:
    head, body = current
    return Stage(head.stage_name, head.image, head.platform, tuple(body), index, head)


def _check_stage_names(stages: Sequence[Stage], file: str) -> None:
    seen: set[str] = set()
    for stage in stages:
        if stage.name is None:
            continue
        if stage.name in seen:
            where = stage.from_.location if stage.from_ else None
            raise DockerfileError(f"duplicate stage name {stage.name!r}", file=file, location=where)
        seen.add(stage.name)


def iter_instructions(dockerfile: Dockerfile) -> Iterable[Instruction]:
    """Every instruction in file order: meta ARGs, then each stage's FROM and body."""
    yield from dockerfile.meta_args
    for stage in dockerfile.stages:
        if stage.from_ is not None:
            yield stage.from_
        yield from stage.instructions
