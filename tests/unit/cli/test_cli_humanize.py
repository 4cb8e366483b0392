"""go-units sizes and durations, Go time layouts; cases taken from go-units' size_test/duration_test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from lamina.cli.humanize import (
    bytes_size,
    created_ago,
    go_time_string,
    human_duration,
    human_size,
    parse_human_size,
    parse_size,
    parse_timestamp,
    rfc3339_nano,
)
from lamina.errors import InvalidArgument, InvalidOption

KB, MB, GB, TB, PB = 1000, 1000**2, 1000**3, 1000**4, 1000**5
KIB, MIB, GIB, TIB, PIB = 1024, 1024**2, 1024**3, 1024**4, 1024**5


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (1000, "1kB"),
        (1024, "1.024kB"),
        (1000000, "1MB"),
        (1048576, "1.049MB"),
        (2 * MB, "2MB"),
        (3.42 * GB, "3.42GB"),
        (5.372 * TB, "5.372TB"),
        (2.22 * PB, "2.22PB"),
        (10000000000000 * PB, "1e+04YB"),
    ],
)
def test_human_size_go_units_precision_4(size: float, expected: str) -> None:
    assert human_size(size, 4) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "0B"),
        (512, "512B"),
        (4260000, "4.26MB"),
        (1.24e9, "1.24GB"),
        (7_377_000, "7.38MB"),
        (999_500, "1e+03kB"),
    ],
)
def test_human_size_docker_precision_3(size: float, expected: str) -> None:
    assert human_size(size) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (1024, "1KiB"),
        (1024 * 1024, "1MiB"),
        (2 * MIB, "2MiB"),
        (3.42 * GIB, "3.42GiB"),
        (5.372 * TIB, "5.372TiB"),
        (2.22 * PIB, "2.22PiB"),
        (KIB**5 * PIB, "1.049e+06YiB"),
        (0, "0B"),
    ],
)
def test_bytes_size(size: float, expected: str) -> None:
    assert bytes_size(size) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("32", 32), ("32b", 32), ("32B", 32), ("32k", 32 * KIB), ("32K", 32 * KIB), ("32kb", 32 * KIB),
        ("32Kb", 32 * KIB), ("32Kib", 32 * KIB), ("32KIB", 32 * KIB), ("32Mb", 32 * MIB), ("32Gb", 32 * GIB),
        ("32Tb", 32 * TIB), ("32Pb", 32 * PIB), ("32PB", 32 * PIB), ("32P", 32 * PIB), ("32.3", 32),
        ("32.3 mb", int(32.3 * MIB)), ("0.3MB", int(0.3 * MIB)), ("10m", 10485760), ("1g", 1073741824),
        ("512k", 524288), ("100", 100),
    ],
)  # fmt: skip
def test_parse_size_ram_in_bytes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "hello", "-32", " 32 ", "32m b", "32bm", "32\n"])
def test_parse_size_errors(text: str) -> None:
    with pytest.raises(InvalidOption) as info:
        parse_size(text)
    assert str(info.value) == f"invalid size: '{text}'"
    assert isinstance(info.value, InvalidArgument)


def test_parse_size_bad_float() -> None:
    with pytest.raises(InvalidOption, match=r'parsing "1\.2\.3": invalid syntax'):
        parse_size("1.2.3")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("32", 32), ("32k", 32 * KB), ("32Kb", 32 * KB), ("32Mb", 32 * MB), ("32Pb", 32 * PB), ("32.5kB", 32500),
     ("32.5 kB", 32500), ("32.5 B", 32), ("0.3 K", 300)],
)  # fmt: skip
def test_parse_human_size(text: str, expected: int) -> None:
    assert parse_human_size(text) == expected
    with pytest.raises(InvalidOption):
        parse_human_size(".3kB")


SECOND, MINUTE, HOUR = 1, 60, 3600
DAY, WEEK, MONTH, YEAR = 24 * HOUR, 7 * 24 * HOUR, 30 * 24 * HOUR, 365 * 24 * HOUR


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.45, "Less than a second"), (1, "1 second"), (45, "45 seconds"), (59, "59 seconds"),
        (60, "About a minute"), (3 * MINUTE, "3 minutes"), (35 * MINUTE + 40, "35 minutes"),
        (59 * MINUTE, "59 minutes"), (HOUR, "About an hour"), (HOUR + 29 * MINUTE, "About an hour"),
        (HOUR + 31 * MINUTE, "2 hours"), (3 * HOUR + 29 * MINUTE, "3 hours"),
        (3 * HOUR + 31 * MINUTE, "4 hours"),
        (24 * HOUR, "24 hours"), (DAY + 12 * HOUR, "36 hours"), (2 * DAY, "2 days"), (7 * DAY, "7 days"),
        (13 * DAY + 5 * HOUR, "13 days"), (2 * WEEK, "2 weeks"), (2 * WEEK + 4 * DAY, "2 weeks"),
        (4 * WEEK + 3 * DAY, "4 weeks"), (MONTH, "4 weeks"), (MONTH + 2 * WEEK, "6 weeks"),
        (2 * MONTH, "2 months"),
        (3 * MONTH + WEEK, "3 months"), (5 * MONTH + 2 * WEEK, "5 months"), (13 * MONTH, "13 months"),
        (24 * MONTH, "24 months"), (24 * MONTH + 2 * WEEK, "2 years"), (3 * YEAR + 2 * MONTH, "3 years"),
        (-5, "Less than a second"),
    ],
)  # fmt: skip
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected
    assert human_duration(timedelta(seconds=seconds)) == expected


def test_created_ago() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert created_ago(now - timedelta(hours=2), now) == "2 hours ago"
    assert created_ago(datetime(2024, 5, 1, 11, 59, 30), now) == "30 seconds ago"
    assert created_ago(0, 3 * 86400) == "3 days ago"


@pytest.mark.parametrize(
    ("dt", "nanosecond", "expected"),
    [
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), None, "2024-01-02T03:04:05Z"),
        (datetime(2024, 1, 2, 3, 4, 5, 123400, tzinfo=UTC), None, "2024-01-02T03:04:05.1234Z"),
        (datetime(2024, 1, 2, 3, 4, 5), 123456789, "2024-01-02T03:04:05.123456789Z"),
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5, minutes=-30))), 1,
         "2024-01-02T03:04:05.000000001-05:30"),
        (datetime(12, 1, 2, tzinfo=timezone(timedelta(hours=2))), None, "0012-01-02T00:00:00+02:00"),
    ],
)  # fmt: skip
def test_rfc3339_nano(dt: datetime, nanosecond: int | None, expected: str) -> None:
    assert rfc3339_nano(dt, nanosecond=nanosecond) == expected


def test_go_time_string() -> None:
    assert go_time_string(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02 03:04:05 +0000 UTC"
    tz = timezone(timedelta(hours=1))
    assert go_time_string(datetime(2024, 1, 2, tzinfo=tz)) == "2024-01-02 00:00:00 +0100 +0100"
    assert (
        go_time_string(datetime(2024, 1, 2, 0, 0, 0, 500000, tzinfo=UTC)) == "2024-01-02 00:00:00.5 +0000 UTC"
    )


def test_parse_timestamp() -> None:
    assert parse_timestamp("2024-01-02T03:04:05.123456789Z") == datetime(
        2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC
    )
    assert parse_timestamp("2024-01-02T03:04:05+01:00").utcoffset() == timedelta(hours=1)
    assert rfc3339_nano(parse_timestamp("2024-01-02T03:04:05.5Z")) == "2024-01-02T03:04:05.5Z"
    for bad in ("yesterday", "2024-13-01T00:00:00Z"):
        with pytest.raises(InvalidOption):
            parse_timestamp(bad)
