"""``connect`` and ``Row`` for lamina's two sqlite files (image metadata, build cache), from the C module.

The ``sqlite3`` package around ``_sqlite3`` only adds the date/datetime adapters and converters
(deprecated since 3.12; lamina stores numbers and text) and imports ``datetime``, whose 3.11
module defines its pure-Python classes before swapping in the C ones: ~1 ms of every command's
start-up, measured on ``run --rm``. An interpreter without ``_sqlite3`` gets the package.
Must not open or hold connections: callers own them. Type annotations keep naming ``sqlite3``.
"""

from __future__ import annotations

try:
    from _sqlite3 import Row, connect
except ImportError:   # an interpreter without the C module under that name
    from sqlite3 import Row, connect

__all__ = ["Row", "connect"]
