"""Canonical JSON bytes for plain JSON values: the bytes whose sha256 becomes a config or manifest digest.

Must not import the spec dataclasses (``codec`` does that): this module is on the CLI's start-up
path, which only needs to serialise dicts. Sorted keys, no spaces, UTF-8, and Go's escaping of
``< > &`` U+2028 U+2029 as ``\\u003c``… so digests match images built by Go tools; lone surrogates
become U+FFFD as Go does for invalid UTF-8.
"""

from __future__ import annotations

import json
import re
from typing import Any

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes of a plain JSON value (dicts, lists, str, int, bool, None)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    text = _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group()], text)
    return _SURROGATE.sub("\ufffd", text).encode("utf-8")
