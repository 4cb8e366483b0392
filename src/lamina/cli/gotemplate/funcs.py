"""Template functions: Go's builtins (len, index, printf, eq, …) and docker's extras (json, join, …).

Each function is declared with its Go parameter types so the executor can reject arguments the way
Go's reflection does ("wrong type for value; expected string; got int"). HEADER_FUNCTIONS mirrors
docker/cli's header overrides, which leave a table header untouched. Must not print or do I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple

from lamina.cli.gotemplate.gofmt import MISSING, go_json, go_str, go_type, sprint, sprintf, sprintln


class FuncError(Exception):
    """A function failed; Go reports it as "error calling NAME: MESSAGE"."""


class Func(NamedTuple):
    """A callable plus its Go signature: fixed parameter types and an optional variadic type."""

    fn: Callable[..., Any]
    params: tuple[str, ...]
    variadic: str | None = None


# ---------------------------------------------------------------- truth and comparison
def is_true(value: Any) -> bool:
    """Go's template truth: false, 0, nil, missing and empty string/slice/map are false."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | bytes | list | tuple | Mapping):
        return len(value) > 0
    return True


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if value is None or value is MISSING:
        return "nil"
    if isinstance(value, list | tuple | Mapping):
        return "uncomparable"
    return "other"


def _equal(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if "uncomparable" in (ka, kb):
        raise FuncError("non-comparable type")
    if "nil" in (ka, kb):
        return ka == kb
    if ka != kb:
        raise FuncError("incompatible types for comparison")
    return bool(a == b)


def eq(arg1: Any, *args: Any) -> bool:
    if not args:
        raise FuncError("missing argument for comparison")
    return any(_equal(arg1, arg) for arg in args)


def ne(a: Any, b: Any) -> bool:
    return not _equal(a, b)


def lt(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka not in ("int", "float", "string") or kb not in ("int", "float", "string"):
        raise FuncError("invalid type for comparison")
    if ka != kb:
        raise FuncError("incompatible types for comparison")
    return bool(a < b)


def le(a: Any, b: Any) -> bool:
    return lt(a, b) or _equal(a, b)


def gt(a: Any, b: Any) -> bool:
    return not le(a, b)


def ge(a: Any, b: Any) -> bool:
    return not lt(a, b)


# ---------------------------------------------------------------- len, index, slice
def length(item: Any) -> int:
    if isinstance(item, str):
        return len(item) if item.isascii() else len(item.encode("utf-8"))
    if isinstance(item, bytes | list | tuple | Mapping):
        return len(item)
    if item is None:
        raise FuncError("len of nil pointer")
    raise FuncError(f"len of type {go_type(item)}")


def _zero_for(mapping: Mapping[Any, Any]) -> Any:
    """The zero value of a map's element type, guessed from its values (Go's index on a missing key)."""
    values = list(mapping.values())
    if all(isinstance(v, str) for v in values):
        return ""
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return 0
    return None


def _index_one(item: Any, key: Any) -> Any:
    if isinstance(item, Mapping):
        return item[key] if key in item else _zero_for(item)
    if isinstance(item, str):
        item = item.encode("utf-8")
    if isinstance(item, bytes | list | tuple):
        if not isinstance(key, int) or isinstance(key, bool):
            raise FuncError(f"cannot index slice/array with type {go_type(key)}")
        if not 0 <= key < len(item):
            raise FuncError(f"index out of range: {key}")
        return item[key]
    if item is None:
        raise FuncError("index of untyped nil")
    raise FuncError(f"can't index item of type {go_type(item)}")


def index(item: Any, *keys: Any) -> Any:
    for key in keys:
        item = _index_one(item, key)
    return item


def slice_(item: Any, *bounds: Any) -> Any:
    if not isinstance(item, str | list | tuple):
        raise FuncError(f"can't slice item of type {go_type(item)}")
    if len(bounds) > 2 + (not isinstance(item, str)) or not all(isinstance(b, int) for b in bounds):
        raise FuncError("invalid slice index")
    start = bounds[0] if bounds else 0
    stop = bounds[1] if len(bounds) > 1 else len(item)
    if not 0 <= start <= stop <= len(item):
        raise FuncError(f"index out of range: {stop if stop > len(item) else start}")
    return item[start:stop]


# ---------------------------------------------------------------- escaping
def html_escape(*args: Any) -> str:
    text = sprint(args)
    for old, new in (
        ("&", "&amp;"),
        ("'", "&#39;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ('"', "&#34;"),
        ("\0", "\ufffd"),
    ):
        text = text.replace(old, new)
    return text


def urlquery(*args: Any) -> str:
    import urllib.parse  # rarely used: imported here to keep template import cheap

    return urllib.parse.quote_plus(sprint(args), safe="")


# ---------------------------------------------------------------- docker's functions
def json_func(value: Any) -> str:
    """docker's json: encoding/json with SetEscapeHTML(false); an unsupported value renders as ""."""
    try:
        return go_json(value, escape_html=False)
    except ValueError:
        return ""


def split(text: str, sep: str) -> list[str]:
    return list(text) if sep == "" else text.split(sep)


def join(items: Sequence[str], sep: str) -> str:
    return sep.join(items)


def _is_separator(ch: str) -> bool:
    if ch.isascii():
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or ch.isdigit():
        return False
    return ch.isspace()


def title(text: str) -> str:
    """strings.Title: upper-case the first letter of each word (words end at Go's separators)."""
    out: list[str] = []
    prev_separator = True
    for ch in text:
        out.append(ch.upper() if prev_separator and ch.isalpha() else ch)
        prev_separator = _is_separator(ch)
    return "".join(out)


def pad(text: str, prefix: int, suffix: int) -> str:
    return text if text == "" else " " * prefix + text + " " * suffix


def truncate(text: str, length: int) -> str:
    return text if len(text) < length else text[:length]


def _first(value: Any, *_: Any) -> Any:
    return value


FUNCTIONS: Final[dict[str, Func]] = {
    "and": Func(_first, ("any",), "any"),  # evaluated lazily by the executor
    "or": Func(_first, ("any",), "any"),  # evaluated lazily by the executor
    "not": Func(lambda v: not is_true(v), ("any",)),
    "len": Func(length, ("any",)),
    "index": Func(index, ("any",), "any"),
    "slice": Func(slice_, ("any",), "any"),
    "print": Func(lambda *a: sprint(a), (), "any"),
    "println": Func(lambda *a: sprintln(a), (), "any"),
    "printf": Func(lambda f, *a: sprintf(f, a), ("string",), "any"),
    "eq": Func(eq, ("any",), "any"),
    "ne": Func(ne, ("any", "any")),
    "lt": Func(lt, ("any", "any")),
    "le": Func(le, ("any", "any")),
    "gt": Func(gt, ("any", "any")),
    "ge": Func(ge, ("any", "any")),
    "html": Func(html_escape, (), "any"),
    "urlquery": Func(urlquery, (), "any"),
    "json": Func(json_func, ("any",)),
    "split": Func(split, ("string", "string")),
    "join": Func(join, ("[]string", "string")),
    "title": Func(title, ("string",)),
    "lower": Func(str.lower, ("string",)),
    "upper": Func(str.upper, ("string",)),
    "pad": Func(pad, ("string", "int", "int")),
    "truncate": Func(truncate, ("string", "int")),
}

HEADER_FUNCTIONS: Final[dict[str, Func]] = FUNCTIONS | {
    "json": Func(_first, ("string",)),
    "split": Func(_first, ("string", "string")),
    "join": Func(_first, ("string", "string")),
    "title": Func(_first, ("string",)),
    "lower": Func(_first, ("string",)),
    "upper": Func(_first, ("string",)),
    "truncate": Func(_first, ("string", "int")),
}

FUNCTION_NAMES: Final = frozenset(FUNCTIONS)


_ARG_CHECKS: Final[dict[str, Callable[[Any], bool]]] = {
    "string": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "[]string": lambda v: isinstance(v, list | tuple) and all(isinstance(x, str) for x in v),
}


def check_arg(value: Any, want: str) -> Any:
    """Validate one argument against a Go parameter type; returns it or raises TypeError(message)."""
    if want == "any":
        return None if value is MISSING else value
    if value is None or value is MISSING:
        raise TypeError(f"invalid value; expected {want}")
    ok = _ARG_CHECKS[want](value)
    if not ok:
        got = "[]interface {}" if isinstance(value, list | tuple) else go_type(value)
        raise TypeError(f"wrong type for value; expected {want}; got {got}")
    return value


__all__ = [
    "FUNCTIONS",
    "FUNCTION_NAMES",
    "HEADER_FUNCTIONS",
    "Func",
    "FuncError",
    "check_arg",
    "go_str",
    "is_true",
]
