"""docker's human-readable sizes, durations and timestamps (github.com/docker/go-units and Go's time).

human_size / bytes_size / human_duration / parse_size reproduce go-units' HumanSizeWithPrecision,
BytesSize, HumanDuration and RAMInBytes; rfc3339_nano and go_time_string reproduce Go's
time.RFC3339Nano and Time.String() layouts. Pure functions: must not print, read the environment
(beyond the local time zone for go_time_string) or import anything heavy.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

from lamina._internal.timestamps import parse_timestamp as parse_timestamp
from lamina.errors import InvalidOption

DECIMAL_UNITS: Final = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
BINARY_UNITS: Final = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
_DECIMAL_MULTIPLIERS: Final = {"k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "p": 1000**5}
_BINARY_MULTIPLIERS: Final = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_SIZE_RE: Final = re.compile(r"([0-9]+(?:\.[0-9]+)*) ?([kmgtp])?i?b?", re.IGNORECASE)


# ---------------------------------------------------------------- sizes
def _scale(size: float, base: float, units: tuple[str, ...]) -> tuple[float, str]:
    """go-units getSizeAndUnit: divide by base while size >= base, up to the last unit."""
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision (decimal units): 4260000 → "4.26MB", 0 → "0B".

    docker's listings (images, ps, system df, history) use precision 3; go-units' HumanSize is 4.
    """
    value, unit = _scale(float(size), 1000.0, DECIMAL_UNITS)
    return f"{value:.{precision}g}{unit}"


def bytes_size(size: float) -> str:
    """go-units BytesSize (binary units, 4 significant digits): 1048576 → "1MiB"."""
    value, unit = _scale(float(size), 1024.0, BINARY_UNITS)
    return f"{value:.4g}{unit}"


def _parse(text: str, multipliers: dict[str, int]) -> int:
    m = _SIZE_RE.fullmatch(text)
    if m is None:
        raise InvalidOption(f"invalid size: '{text}'", value=text)
    try:
        size = float(m.group(1))
    except ValueError:
        message = f'strconv.ParseFloat: parsing "{m.group(1)}": invalid syntax'
        raise InvalidOption(message, value=text) from None
    if m.group(2):
        size *= float(multipliers[m.group(2).lower()])
    return int(size)


def parse_size(text: str) -> int:
    """go-units RAMInBytes: "10m" → 10485760; binary units k/m/g/t/p, optional "i"/"b", case-insensitive.

    Raises InvalidOption("invalid size: '<text>'") for anything else (negative numbers included).
    """
    return _parse(text, _BINARY_MULTIPLIERS)


def parse_human_size(text: str) -> int:
    """go-units FromHumanSize: like parse_size but with decimal units ("32kB" → 32000)."""
    return _parse(text, _DECIMAL_MULTIPLIERS)


# ---------------------------------------------------------------- durations
def human_duration(duration: float | timedelta) -> str:
    """go-units HumanDuration: "Less than a second", "About a minute", "3 hours", "2 weeks", …"""
    seconds_f = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    hours_f = seconds_f / 3600
    seconds, minutes, hours = int(seconds_f), int(seconds_f / 60), int(hours_f + 0.5)
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(hours_f) // 24 // 365} years"


def _as_datetime(value: datetime | float) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value, UTC)


def created_ago(created: datetime | float, now: datetime | float | None = None) -> str:
    """docker's CreatedSince: human_duration(now - created) + " ago" ("2 hours ago").

    ``created`` and ``now`` are aware datetimes (naive ones are taken as UTC) or Unix seconds.
    """
    current = _as_datetime(now) if now is not None else datetime.now(UTC)
    return human_duration(current - _as_datetime(created)) + " ago"


# ---------------------------------------------------------------- timestamps
def _offset(dt: datetime, utc_mark: str, colon: bool) -> str:
    offset = dt.utcoffset()
    if offset is None or offset == timedelta(0):
        return utc_mark
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    return f"{sign}{hh:02d}{':' if colon else ''}{mm:02d}"


def _clock(dt: datetime) -> str:
    return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"


def _fraction(nanosecond: int) -> str:
    return f".{nanosecond:09d}".rstrip("0") if nanosecond else ""


def rfc3339_nano(dt: datetime, *, nanosecond: int | None = None) -> str:
    """Go's time.RFC3339Nano: "2024-01-02T03:04:05.1234Z" (trailing zeros trimmed, "Z" for UTC).

    A naive datetime is taken as UTC; ``nanosecond`` (0-999999999) replaces the microsecond field.
    """
    ns = dt.microsecond * 1000 if nanosecond is None else nanosecond
    return _clock(dt) + _fraction(ns) + _offset(dt, "Z", colon=True)


def go_time_string(when: datetime | float) -> str:
    """Go's Time.String() in the local zone for Unix seconds: "2024-01-02 03:04:05 +0000 UTC"."""
    dt = when if isinstance(when, datetime) else datetime.fromtimestamp(when, UTC).astimezone()
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    numeric = _offset(dt, "+0000", colon=False)
    name = dt.tzname() or numeric
    if name.startswith("UTC") and name != "UTC":
        name = numeric
    return _clock(dt).replace("T", " ") + _fraction(dt.microsecond * 1000) + f" {numeric} {name}"


_GO_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse_go_duration(text: str, flag: str) -> int:
    """Go's ``time.ParseDuration`` ("30s", "1m30s", "500ms") in nanoseconds; InvalidOption naming *flag*."""
    parts = _GO_DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise InvalidOption(f'invalid argument "{text}" for "{flag}" flag: time: invalid duration "{text}"')
    return round(sum(float(n) * _GO_UNITS[u] for n, u in parts))


def parse_instant(text: str, flag: str, now: float) -> float:
    """docker's ``--since``/``--until``: Unix seconds, a duration before *now* ("10m"), or an RFC 3339 time."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if _GO_DURATION.match(text):
        return now - parse_go_duration(text, flag) / 10**9
    try:
        return parse_timestamp(text).timestamp()
    except InvalidOption:
        raise InvalidOption(f'invalid value for "{flag}": {text!r} is not a timestamp, a Unix time '
                            "or a duration such as 10m") from None
