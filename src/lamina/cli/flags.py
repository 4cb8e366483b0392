"""Command-line flags as data, and a click-free parser for them.

The hot verbs (``run``, ``commit``) define their options once as a table of ``Flag``; the click
command builds its options from it (``lamina.cli.clickflags``) and ``lamina.cli.main`` parses a
plain invocation with ``parse`` instead, because importing click costs ~10 ms on every call. The
parser accepts what click (and docker) accept for these flags: ``--opt=v``, ``--opt v``, ``-ov``,
grouped short flags (``-it``), ``--`` ending the options; with ``interspersed`` options may
follow positionals (click's default), otherwise they stop at the first one (``run IMAGE CMD…``).
It returns None for anything else (``--help``, an unknown flag, a bad number, a missing or extra
argument), so that click parses it and reports the error in its own words.

Must not import click or rich, and must not hold business logic.
"""

from __future__ import annotations

from collections.abc import Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FLAG, VALUE, MULTI = "flag", "value", "multi"


class Flag:
    """One option: its spellings, where its value goes, its kind, type, help, default and choices.

    A plain class, not a NamedTuple: building a NamedTuple class costs ~0.5 ms of start-up.
    ``choices`` are matched case-insensitively and kept lower-case (click.Choice(case_sensitive=False)).
    """

    __slots__ = ("choices", "default", "dest", "help", "kind", "names", "type")

    def __init__(self, names: tuple[str, ...], dest: str, kind: str = VALUE, type: type = str,
                 help: str = "", default: Any = None, choices: tuple[str, ...] = ()) -> None:
        self.names, self.dest, self.kind, self.type, self.help = names, dest, kind, type, help
        self.default, self.choices = default, choices


def defaults(flags: Sequence[Flag]) -> dict[str, Any]:
    """Each flag's value when it is not given (click's: the flag's default or False, (), None)."""
    return {f.dest: bool(f.default) if f.kind == FLAG else () if f.kind == MULTI else f.default for f in flags}


def parse(flags: Sequence[Flag], args: Sequence[str], *, interspersed: bool, min_args: int,
          max_args: int | None) -> tuple[dict[str, Any], list[str]] | None:
    """``(options, positionals)`` as click would pass them; None when click should parse instead."""
    by_name = {n: f for f in flags for n in f.names}
    opts = defaults(flags)
    rest, positionals = list(args), []
    while rest:
        token = rest.pop(0)
        if token == "--":
            positionals += rest
            break
        if not token.startswith("-") or token == "-":
            positionals.append(token)
            if not interspersed:
                positionals += rest
                break
            continue
        taken = _take_long(token, rest, by_name, opts) if token.startswith("--") else \
            _take_short(token, rest, by_name, opts)
        if not taken:
            return None
    if len(positionals) < min_args or (max_args is not None and len(positionals) > max_args):
        return None
    return opts, positionals


def _take_long(token: str, rest: list[str], by_name: dict[str, Flag], opts: dict[str, Any]) -> bool:
    name, eq, value = token.partition("=")
    flag = by_name.get(name)
    if flag is None or (flag.kind == FLAG and eq):
        return False
    if flag.kind == FLAG:
        opts[flag.dest] = True
        return True
    if not eq:
        if not rest:
            return False
        value = rest.pop(0)
    return _store(flag, value, opts)


def _take_short(token: str, rest: list[str], by_name: dict[str, Flag], opts: dict[str, Any]) -> bool:
    for i, char in enumerate(token[1:], start=1):
        flag = by_name.get(f"-{char}")
        if flag is None:
            return False
        if flag.kind == FLAG:
            opts[flag.dest] = True
            continue
        value = token[i + 1:]
        if not value:
            if not rest:
                return False
            value = rest.pop(0)
        return _store(flag, value, opts)
    return True


def _store(flag: Flag, text: str, opts: dict[str, Any]) -> bool:
    if flag.choices:
        text = text.lower()
        if text not in flag.choices:
            return False
    try:
        value = flag.type(text)
    except ValueError:
        return False
    opts[flag.dest] = (*opts[flag.dest], value) if flag.kind == MULTI else value
    return True
