"""RFC 3339 timestamps as docker and OCI configs write them, parsed into aware datetimes.

One parser for every layer: the CLI's ``--since``/``--until`` and ``RunningFor`` columns, and the
engine's prune ``until`` filter over image and container ``Created`` fields. Must not format,
print or import anything heavy (it sits on the CLI's import path).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from lamina.errors import InvalidOption

_TIMESTAMP_RE: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?\s*([Zz]|[+-]\d{2}:?\d{2})?"
)


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with up to nanosecond precision (truncated to microseconds).

    Raises InvalidOption when ``text`` is not a timestamp.
    """
    m = _TIMESTAMP_RE.fullmatch(text.strip())
    if m is None:
        raise InvalidOption(f"parse timestamp: {text!r} is not RFC 3339", value=text)
    day, clock, fraction, zone = m.groups()
    micro = (fraction or "").ljust(6, "0")[:6]
    tz = "+00:00" if zone in (None, "Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{day}T{clock}.{micro}{tz}")
    except ValueError as exc:
        raise InvalidOption(f"parse timestamp: {text!r}: {exc}", value=text) from None
