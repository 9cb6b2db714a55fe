"""The sandbox's state: one in-memory DuckDB database, a clock, and a lock.

Every route reads and writes through `SandboxState`, so requests are serialized (the
sandbox is a test double, not a production server) and all times come from one clock.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

SCHEMA_SQL = (Path(__file__).parent / "schema.sql").read_text()


def parse_time(text: str) -> datetime:
    """ISO-8601 text (a trailing Z, an offset or none) as naive UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def utcnow() -> datetime:
    """Naive UTC wall-clock time; the sandbox stores naive UTC everywhere."""
    return datetime.now(UTC).replace(tzinfo=None)


class SandboxState:
    """Holds the sandbox database and clock; every access goes through `lock`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.con = duckdb.connect(":memory:")
        self._clock: datetime | None = None
        self._last_tick = 0.0
        self.reset_schema()

    def reset_schema(self) -> None:
        """Drop everything and create the empty schema."""
        with self.lock:
            self.con.close()
            self.con = duckdb.connect(":memory:")
            self.con.execute(SCHEMA_SQL)

    def now(self) -> datetime:
        """The sandbox clock: fixed once set by `/_sandbox/clock`, else the wall clock."""
        return self._clock if self._clock is not None else utcnow()

    def clock_is_set(self) -> bool:
        return self._clock is not None

    def tick_due(self, every_seconds: float = 1.0) -> bool:
        """True at most once per `every_seconds` of wall time (throttles wall-clock ticks)."""
        moment = time.monotonic()
        if moment - self._last_tick < every_seconds:
            return False
        self._last_tick = moment
        return True

    def set_clock(self, now: datetime) -> None:
        self._clock = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection, locked, inside one transaction (rolled back on error)."""
        with self.lock:
            self.con.execute("begin")
            try:
                yield self.con
            except BaseException:
                self.con.execute("rollback")
                raise
            self.con.execute("commit")

    def rows(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> list[dict]:
        """Run a query and return its rows as dicts."""
        with self.lock:
            cur = self.con.execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def arrow(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pa.Table:
        with self.lock:
            return self.con.execute(sql, params or []).to_arrow_table()

    def execute(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> None:
        with self.lock:
            self.con.execute(sql, params or [])

    def log_event(self, crm: str, obj: str, record_id: str, action: str, payload: Any) -> None:
        """Append one change to the ground-truth event log."""
        self.execute(
            "insert into sb_events values (?, ?, ?, ?, ?, ?)",
            [self.now(), crm, obj, str(record_id), action, json.dumps(payload, default=str)],
        )
