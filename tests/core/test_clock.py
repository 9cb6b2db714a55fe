"""The one clock helper: naive UTC everywhere, one parser for times given by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tasks.core.clock import naive_utc, parse_iso, parse_option_time, utcnow
from tasks.core.errors import ConfigError


@pytest.mark.parametrize("text", ["2026-11-25T10:15:00Z", "2026-11-25T10:15:00+00:00",
                                  "2026-11-25T10:15:00+0000", "2026-11-25T11:15:00+01:00",
                                  "2026-11-25T05:15:00-0500", "2026-11-25T10:15:00",
                                  "2026-11-25 10:15:00"])
def test_every_spelling_of_one_moment_is_the_same_naive_utc_time(text: str) -> None:
    assert parse_iso(text) == datetime(2026, 11, 25, 10, 15)


def test_a_date_alone_is_its_midnight_utc() -> None:
    assert parse_option_time("2026-01-01") == datetime(2026, 1, 1)


def test_a_time_that_is_not_one_names_the_option_and_an_example() -> None:
    with pytest.raises(ConfigError, match=r"^--since: 'yesterday' is not an ISO 8601 time; "
                                          r"write e.g. 2026-11-25T10:15:00Z$"):
        parse_option_time("yesterday", "--since")


def test_no_time_given_is_none() -> None:
    assert parse_option_time(None) is None


def test_aware_times_become_naive_utc_and_naive_ones_stay() -> None:
    berlin = timezone(timedelta(hours=1))
    assert naive_utc(datetime(2026, 3, 1, 9, 0, tzinfo=berlin)) == datetime(2026, 3, 1, 8, 0)
    assert naive_utc(datetime(2026, 3, 1, 9, 0)) == datetime(2026, 3, 1, 9, 0)


def test_the_wall_clock_is_naive_utc() -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    now = utcnow()
    assert now.tzinfo is None and abs(now - before) < timedelta(seconds=5)
