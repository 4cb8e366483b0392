"""``--filter`` of the prune verbs, docker's forms: ``until=<timestamp|duration>``, ``label=KEY``,
``label=KEY=VALUE``, ``label!=KEY`` and ``label!=KEY=VALUE``.

Must not hold business logic: it only turns the flag values into a ``PruneFilter``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from lamina.engine.system import PruneFilter
from lamina.errors import InvalidArgument


def parse_prune_filters(items: Sequence[str], *, until: bool = True) -> PruneFilter | None:
    """The filters given (None for none); InvalidArgument names an unknown or malformed one."""
    if not items:
        return None
    from lamina.cli.humanize import parse_instant
    when: float | None = None
    labels: list[tuple[str, str | None, bool]] = []
    for item in items:
        key, sep, value = item.partition("=")
        negated = key.endswith("!")
        key = key.removesuffix("!")
        if not sep or key not in ("until", "label") or (key == "until" and (negated or not until)):
            raise InvalidArgument(f"invalid filter '{item}'")
        if key == "until":
            when = parse_instant(value, "--filter until", time.time())
            continue
        name, has_value, wanted = value.partition("=")
        labels.append((name, wanted if has_value else None, negated))
    return PruneFilter(until=when, labels=tuple(labels))
