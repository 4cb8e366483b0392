"""Module loggers that cost nothing until a record is emitted.

``logging`` (with the traceback, string and threading modules it pulls in) is ~3 ms of every
command's start-up, and a quiet ``lamina run`` never logs. ``get_logger(__name__)`` returns a
stand-in with ``debug``/``info``/``warning``/``error``: while ``logging`` is not imported it drops
records below the threshold ``configure`` set (the CLI's ``-l``/``-D``) and imports ``logging``,
configured as ``configure`` asked, for the first record at or above it. Once ``logging`` is
imported (by that, or by a host program such as pytest) every call goes to the real logger,
whose own level decides.

Must not import ``logging`` at module level, and must not format messages it drops.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
_config: dict[str, Any] = {"threshold": WARNING, "basic": None}


def configure(level: int, **basic_config: Any) -> None:
    """Emit records at *level* and above, through ``logging.basicConfig(level=level, **basic_config)``.

    Below WARNING ``logging`` is set up at once (debug output is wanted); otherwise only when
    the first warning comes.
    """
    _config["threshold"], _config["basic"] = level, {"level": level, **basic_config}
    if level < WARNING:
        _logging()


def _logging() -> Any:
    """The ``logging`` module, configured as ``configure`` asked the first time it loads here."""
    fresh = "logging" not in sys.modules
    import logging
    if fresh and _config["basic"] is not None:
        logging.basicConfig(**_config["basic"])
    return logging


class Logger:
    """``logging.getLogger(name)`` on demand; see the module docstring."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _emit(self, level: int, msg: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if "logging" not in sys.modules and level < _config["threshold"]:
            return
        kwargs.setdefault("stacklevel", 3)   # the caller's line, not this module's
        _logging().getLogger(self.name).log(level, msg, *args, **kwargs)

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit(DEBUG, msg, args, kwargs)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit(INFO, msg, args, kwargs)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit(WARNING, msg, args, kwargs)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit(ERROR, msg, args, kwargs)


def get_logger(name: str) -> Logger:
    return Logger(name)
