"""Health-check configuration: Go durations and the image's check merged with the run flags."""

from __future__ import annotations

import pytest

from lamina.cli.humanize import parse_go_duration as parse_duration
from lamina.container.health import SECOND, effective
from lamina.errors import InvalidOption


@pytest.mark.parametrize(("text", "ns"), [("30s", 30 * SECOND), ("1m30s", 90 * SECOND), ("500ms", SECOND // 2),
                                          ("1.5s", 3 * SECOND // 2), ("1h", 3600 * SECOND), ("250us", 250_000)])
def test_parse_duration(text, ns):
    assert parse_duration(text, "--health-interval") == ns


@pytest.mark.parametrize("text", ["", "10", "10x", "s", "1s ", "-1s"])
def test_bad_durations(text):
    with pytest.raises(InvalidOption, match="--health-timeout"):
        parse_duration(text, "--health-timeout")


def test_effective_merges_and_defaults():
    image = {"Test": ["CMD", "check", "--fast"], "Interval": 5 * SECOND}
    spec = effective(image, None)
    assert spec is not None and spec.args == ("check", "--fast")
    assert (spec.interval, spec.timeout, spec.start_period, spec.retries) == (5 * SECOND, 30 * SECOND, 0, 3)
    over = effective(image, {"Test": ["CMD-SHELL", "curl -f localhost"], "Retries": 1})
    assert over is not None and over.args == ("/bin/sh", "-c", "curl -f localhost") and over.retries == 1
    assert over.interval == 5 * SECOND


@pytest.mark.parametrize(("image", "override"), [
    (None, None), ({"Test": ["NONE"]}, None), ({"Test": ["CMD", "x"]}, {"Test": ["NONE"]}), ({"Test": ["CMD"]}, None),
])
def test_no_check(image, override):
    assert effective(image, override) is None
