"""ops.runs: one row per cycle, so every decision can be traced to the run that made it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from tasks.core.clock import utcnow
from tasks.core.errors import ConfigError
from tasks.core.redact import redacted
from tasks.db import sql
from tasks.db.store import connect, publish_reader_copy


def check_time(db_path: str | Path, run_id: str, now: datetime, dry_run: bool,
               allow_past_now: bool) -> None:
    """Refuse a cycle time earlier than the last committed run's: windows, delays and
    propagation would be judged at a time already past, and its unenrolls posted for real.
    A dry run may look back; `allow_past_now` says the person means it."""
    if dry_run or allow_past_now:
        return
    with connect(db_path) as con:
        last = sql.fetch(con, "run/last_committed", run_id=run_id)
    if last and now < last[0][1]:
        raise ConfigError(
            f"cycle time {now.isoformat(sep=' ')} is before {last[0][1].isoformat(sep=' ')}, "
            f"the cycle time of run {last[0][0]} already committed; time cannot go back: pass "
            "a later --now, --dry-run to look without posting, or --allow-past-now "
            "(flow parameter allow_past_now) to run it anyway")


def record_start(db_path: str | Path, run_id: str, now: datetime, dry_run: bool) -> None:
    with connect(db_path) as con:
        sql.run(con, "run/record_start", run_id=run_id, started_at=utcnow(), now=now,
                dry_run=dry_run)


def record_finish(db_path: str | Path, run_id: str, status: str, summary: dict) -> None:
    with connect(db_path) as con:
        sql.run(con, "run/record_finish", run_id=run_id, status=status, finished_at=utcnow(),
                summary=json.dumps(redacted(summary), default=str))
    # what this run committed, for explain, preview, lint and DuckDB sessions during the next
    publish_reader_copy(db_path)
