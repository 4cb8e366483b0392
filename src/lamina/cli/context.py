"""How verbs get an open Engine: ``@with_engine`` passes one built from the global flags.

Must not hold business logic; it only turns CLI flags into an EngineConfig (borg's with_repository).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from lamina.engine.engine import Engine

R = TypeVar("R")


def open_engine(ctx: click.Context) -> Engine:
    from lamina.engine.config import EngineConfig
    from lamina.engine.engine import Engine
    obj = ctx.find_root().obj or {}
    config = EngineConfig.from_env(root=obj.get("root"), storage_driver=obj.get("storage_driver"))
    engine = Engine(config)
    ctx.call_on_close(engine.close)
    return engine


def with_engine(func: Callable[..., R]) -> Callable[..., R]:
    """Decorate a click callback so it receives an open Engine as its first argument."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> R:
        ctx = click.get_current_context()
        return func(open_engine(ctx), *args, **kwargs)
    return wrapper


def echo(text: str = "", **kwargs: Any) -> None:
    click.echo(text, **kwargs)
