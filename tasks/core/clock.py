"""Time as seqguard keeps it: naive UTC, like every timestamp in the database.

The cycle's time is passed down from the flow (`now`), never read from the clock again
by a step; `utcnow` is for when something happened (a run started, a row was written).
"""

from __future__ import annotations

from datetime import UTC, datetime

from tasks.core.errors import ConfigError


def utcnow() -> datetime:
    """The wall clock, as naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(moment: datetime) -> datetime:
    """A time as naive UTC: an aware one converted, a naive one taken as UTC already."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time (`Z`, `+00:00` or Salesforce's `+0000`) as naive UTC; an
    offset-less one is UTC. ValueError when it is not a time."""
    value = text.strip().replace("Z", "+00:00")
    if len(value) > 5 and value[-5] in "+-" and value[-3] != ":" and value[-4:].isdigit():
        value = value[:-2] + ":" + value[-2:]
    return naive_utc(datetime.fromisoformat(value))


def parse_option_time(text: str | None, option: str = "--now") -> datetime | None:
    """A time given on the command line (`--now`, `--since`) as naive UTC; None when not
    given. A value that is not a time is a ConfigError naming the option and an example."""
    if text is None:
        return None
    try:
        return parse_iso(text)
    except ValueError as exc:
        raise ConfigError(f"{option}: '{text}' is not an ISO 8601 time; write e.g. "
                          "2026-11-25T10:15:00Z") from exc
