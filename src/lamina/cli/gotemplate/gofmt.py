"""Go's value formatting for templates: fmt's %v, Sprint/Sprintln/Sprintf, strconv.Quote, encoding/json.

Python values stand in for Go values: str, bool, int, float, None (nil), Mapping (map, printed with
sorted keys), list/tuple (slice), dataclass instances (struct). MISSING stands for Go's invalid value
(a missing map key) and prints as "<no value>".

This module must not import anything from lamina, print, or do I/O.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple

try:
    from _json import encode_basestring as _quote_json  # C speed-up, far cheaper to import than json
except ImportError:  # pragma: no cover - CPython always has it
    from json.encoder import py_encode_basestring as _quote_json


class _Missing:
    """Go's invalid reflect.Value: the result of looking up a key a map does not have."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Final = _Missing()


# ---------------------------------------------------------------- %v
def go_str(value: Any) -> str:
    """fmt.Sprint(value) for one value: Go's %v."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return go_float(value, "g")
    if value is None:
        return "<nil>"
    if value is MISSING:
        return "<no value>"
    return _go_str_composite(value)


def _go_str_composite(value: Any) -> str:
    if isinstance(value, Mapping):
        items = " ".join(f"{go_str(k)}:{go_str(value[k])}" for k in _sorted_keys(value))
        return f"map[{items}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(item) for item in value) + "]"
    if isinstance(value, bytes | bytearray):
        return "[" + " ".join(str(b) for b in value) + "]"
    fields = _dataclass_fields(value)
    if fields is not None:
        return "{" + " ".join(go_str(item) for item in fields.values()) + "}"
    return str(value)


def _dataclass_fields(value: Any) -> dict[str, Any] | None:
    """A dataclass's or record's fields in order (Go prints and encodes structs field by field)."""
    from lamina._internal.records import Record
    if isinstance(value, Record):
        return {name: getattr(value, name) for name in value._fields}
    if not hasattr(type(value), "__dataclass_fields__"):
        return None
    import dataclasses  # only reached for dataclass values; keeps module import cheap

    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


def _sorted_keys(mapping: Mapping[Any, Any]) -> list[Any]:
    try:
        return sorted(mapping)
    except TypeError:
        return sorted(mapping, key=go_str)


def go_type(value: Any) -> str:
    """The Go type name fmt prints in %!verb(type=value) errors."""
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if value is None or value is MISSING:
        return "<nil>"
    return type(value).__name__


# ---------------------------------------------------------------- floats
def _digits(x: float) -> tuple[str, int]:
    """Shortest decimal digits of abs(x) and the decimal point position (0.0123 -> ("123", -1))."""
    from decimal import Decimal  # floats are rare in container data; keeps module import cheap

    _, digits, exponent = Decimal(repr(abs(x))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    return text, len(text) + exponent


def _fixed(digits: str, dp: int) -> str:
    if dp <= 0:
        return "0." + "0" * -dp + digits
    if dp >= len(digits):
        return digits + "0" * (dp - len(digits))
    return digits[:dp] + "." + digits[dp:]


def _exp(digits: str, dp: int, min_exp_digits: int = 2) -> str:
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    e = dp - 1
    return f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e):0{min_exp_digits}d}"


def go_float(x: float, mode: str) -> str:
    """strconv.FormatFloat(x, 'g', -1, 64) (mode "g") or encoding/json's float format (mode "json")."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0"
    digits, dp = _digits(x)
    if mode == "json":
        use_exp = abs(x) < 1e-6 or abs(x) >= 1e21
        return sign + (_exp(digits, dp, 1) if use_exp else _fixed(digits, dp))
    return sign + (_exp(digits, dp) if not -4 <= dp - 1 < 6 else _fixed(digits, dp))


# ---------------------------------------------------------------- Sprint / Sprintln
def sprint(args: Sequence[Any]) -> str:
    """fmt.Sprint: spaces between operands when neither side is a string."""
    parts: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            parts.append(" ")
        parts.append(go_str(arg))
    return "".join(parts)


def sprintln(args: Sequence[Any]) -> str:
    """fmt.Sprintln: always spaces between operands, newline at the end."""
    return " ".join(go_str(arg) for arg in args) + "\n"


# ---------------------------------------------------------------- strconv.Quote
_QUOTE_ESCAPES: Final = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
    "\t": "\\t", "\v": "\\v", "\\": "\\\\", '"': '\\"',
}  # fmt: skip


def go_quote(text: str) -> str:
    """strconv.Quote: a double-quoted Go string literal."""
    out = ['"']
    for ch in text:
        if ch in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


# ---------------------------------------------------------------- Sprintf
_VERB_RE: Final = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d*))?(.)?", re.DOTALL)


class _Spec(NamedTuple):
    flags: str
    width: int
    precision: int | None


@functools.lru_cache(maxsize=64)
def _parse_format(fmt: str) -> tuple[str | tuple[str, _Spec], ...]:
    """Split a printf format into literal text and (verb, spec) pairs; an empty verb is NOVERB."""
    parts: list[str | tuple[str, _Spec]] = []
    pos = 0
    while (start := fmt.find("%", pos)) >= 0:
        parts.append(fmt[pos:start])
        m = _VERB_RE.match(fmt, start)
        assert m is not None
        flags, width, precision, verb = m.groups()
        pos = m.end()
        if verb == "%":
            parts.append("%")
        else:
            spec = _Spec(flags, int(width or 0), None if precision is None else int(precision or 0))
            parts.append((verb or "", spec))
    parts.append(fmt[pos:])
    return tuple(part for part in parts if part != "")


def sprintf(fmt: str, args: Sequence[Any]) -> str:
    """fmt.Sprintf for the verbs templates use (v s q d t x X o b c f F e E g G %)."""
    out: list[str] = []
    used = 0
    for part in _parse_format(fmt):
        if isinstance(part, str):
            out.append(part)
        elif not part[0]:
            out.append("%!(NOVERB)")
        elif used >= len(args):
            out.append(f"%!{part[0]}(MISSING)")
        else:
            out.append(_format_arg(args[used], part[0], part[1]))
            used += 1
    if used < len(args):
        extra = ", ".join(f"{go_type(a)}={go_str(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _bad_verb(verb: str, arg: Any) -> str:
    if arg is None or arg is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(arg)}={go_str(arg)})"


def _format_arg(arg: Any, verb: str, spec: _Spec) -> str:
    if isinstance(arg, list | tuple) and verb != "v":
        return "[" + " ".join(_format_arg(item, verb, spec) for item in arg) + "]"
    formatter = _VERBS.get(verb)
    body = formatter(arg, spec) if formatter else None
    if body is None:
        return _bad_verb(verb, arg)
    numeric = isinstance(arg, int | float) and not isinstance(arg, bool)
    return _pad(body, spec, zero_ok=numeric)


def _pad(body: str, spec: _Spec, *, zero_ok: bool) -> str:
    fill = spec.width - len(body)
    if fill <= 0:
        return body
    if "-" in spec.flags:
        return body + " " * fill
    if "0" in spec.flags and zero_ok:
        sign = body[0] if body[:1] in ("-", "+", " ") else ""
        return sign + "0" * fill + body[len(sign) :]
    return " " * fill + body


def _sign(body: str, spec: _Spec) -> str:
    if body.startswith("-"):
        return body
    if "+" in spec.flags:
        return "+" + body
    return " " + body if " " in spec.flags else body


def _is_int(arg: Any) -> bool:
    return isinstance(arg, int) and not isinstance(arg, bool)


def _verb_v(arg: Any, spec: _Spec) -> str:
    body = go_str(arg)
    return _sign(body, spec) if isinstance(arg, int | float) and not isinstance(arg, bool) else body


def _verb_s(arg: Any, spec: _Spec) -> str | None:
    if isinstance(arg, Mapping):
        return go_str(arg)
    if not isinstance(arg, str):
        return None
    return arg if spec.precision is None else arg[: spec.precision]


def _verb_q(arg: Any, spec: _Spec) -> str | None:
    if isinstance(arg, str):
        return go_quote(arg)
    if _is_int(arg):
        return "'" + go_quote(chr(arg))[1:-1].replace("'", "\\'").replace('\\"', '"') + "'"
    return None


def _verb_int(base: str) -> Callable[[Any, _Spec], str | None]:
    def fmt(arg: Any, spec: _Spec) -> str | None:
        if isinstance(arg, str) and base in "xX":
            return arg.encode("utf-8").hex() if base == "x" else arg.encode("utf-8").hex().upper()
        if not _is_int(arg):
            return None
        body = format(arg, base)
        if "#" in spec.flags and base in "xXob":
            prefix = {"x": "0x", "X": "0X", "o": "0", "b": ""}[base]
            body = ("-" if arg < 0 else "") + prefix + body.lstrip("-")
        return _sign(body, spec)

    return fmt


def _verb_float(code: str) -> Callable[[Any, _Spec], str | None]:
    def fmt(arg: Any, spec: _Spec) -> str | None:
        if not isinstance(arg, float):
            return None
        if code in "gG" and spec.precision is None:
            body = go_float(arg, "g")
            body = body.upper() if code == "G" else body
        else:
            body = format(arg, f".{6 if spec.precision is None else spec.precision}{code}")
        return _sign(body, spec)

    return fmt


def _verb_t(arg: Any, spec: _Spec) -> str | None:
    return ("true" if arg else "false") if isinstance(arg, bool) else None


def _verb_c(arg: Any, spec: _Spec) -> str | None:
    return chr(arg) if _is_int(arg) and 0 <= arg <= 0x10FFFF else None


_VERBS: Final[dict[str, Callable[[Any, _Spec], str | None]]] = {
    "v": _verb_v, "s": _verb_s, "q": _verb_q, "t": _verb_t, "c": _verb_c,
    "d": _verb_int("d"), "x": _verb_int("x"), "X": _verb_int("X"), "o": _verb_int("o"), "b": _verb_int("b"),
    "f": _verb_float("f"), "F": _verb_float("F"), "e": _verb_float("e"), "E": _verb_float("E"),
    "g": _verb_float("g"), "G": _verb_float("G"),
}  # fmt: skip


# ---------------------------------------------------------------- encoding/json
_HTML_ESCAPES: Final = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
_HTML_RE: Final = re.compile("[<>&\u2028\u2029]")
_LINE_SEP_RE: Final = re.compile("[\u2028\u2029]")


def _json_string(text: str, escape_html: bool) -> str:
    quoted = _quote_json(text)
    pattern = _HTML_RE if escape_html else _LINE_SEP_RE
    if pattern.search(quoted) is None:
        return quoted
    return pattern.sub(lambda m: _HTML_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), quoted)


def go_json(value: Any, *, escape_html: bool = True, indent: str | None = None) -> str:
    """json.Marshal (or json.MarshalIndent with prefix "" when indent is given) of a value.

    Mappings keep their insertion order (they stand for Go structs); floats use Go's format;
    NaN and infinities raise ValueError like Go's UnsupportedValueError.
    """
    parts: list[str] = []
    _encode(value, parts, escape_html, indent, "\n" if indent is not None else "")
    return "".join(parts)


def _encode(value: Any, out: list[str], esc: bool, indent: str | None, nl: str) -> None:
    kind = type(value)
    if kind is str:
        out.append(_json_string(value, esc))
    elif kind is dict:
        _encode_object(value, out, esc, indent, nl)
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is list:
        _encode_array(value, out, esc, indent, nl)
    elif value is None or value is MISSING:
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    else:
        _encode_other(value, out, esc, indent, nl)


def _encode_other(value: Any, out: list[str], esc: bool, indent: str | None, nl: str) -> None:
    if isinstance(value, str):
        out.append(_json_string(value, esc))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"json: unsupported value: {go_float(value, 'g')}")
        out.append(go_float(value, "json"))
    elif isinstance(value, Mapping):
        _encode_object(value, out, esc, indent, nl)
    elif isinstance(value, list | tuple):
        _encode_array(value, out, esc, indent, nl)
    elif (fields := _dataclass_fields(value)) is not None:
        _encode_object(fields, out, esc, indent, nl)
    else:
        out.append(_json_string(str(value), esc))


def _encode_object(value: Mapping[Any, Any], out: list[str], esc: bool, indent: str | None, nl: str) -> None:
    if not value:
        out.append("{}")
        return
    inner = nl + (indent or "")
    out.append("{")
    for i, (key, item) in enumerate(value.items()):
        out.append(("," if i else "") + inner)
        out.append(_json_string(key if isinstance(key, str) else go_str(key), esc))
        out.append(": " if indent is not None else ":")
        _encode(item, out, esc, indent, inner)
    out.append(nl + "}")


def _encode_array(value: Sequence[Any], out: list[str], esc: bool, indent: str | None, nl: str) -> None:
    if not value:
        out.append("[]")
        return
    inner = nl + (indent or "")
    out.append("[")
    for i, item in enumerate(value):
        out.append(("," if i else "") + inner)
        _encode(item, out, esc, indent, inner)
    out.append(nl + "]")
