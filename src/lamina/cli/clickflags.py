"""click options from a ``lamina.cli.flags`` table: one definition serves click and the fast parser."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from lamina.cli.flags import FLAG, MULTI, VALUE, Flag


def click_option(flag: Flag) -> Callable[[Any], Any]:
    """The click option for one ``Flag``."""
    if flag.kind == FLAG:
        return click.option(*flag.names, flag.dest, is_flag=True, default=bool(flag.default), help=flag.help)
    kind: Any = click.Choice(flag.choices, case_sensitive=False) if flag.choices else flag.type
    return click.option(*flag.names, flag.dest, type=kind, multiple=flag.kind == MULTI,
                        default=flag.default if flag.kind == VALUE else None, help=flag.help)


def flag_options(flags: Sequence[Flag]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a click command with *flags*, in table order."""
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for flag in reversed(flags):
            func = click_option(flag)(func)
        return func
    return decorate
