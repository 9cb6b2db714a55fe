"""ops.runs: one row per cycle, so every decision can be traced to the run that made it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tasks.redact import redacted
from tasks.store import connect


def _wall_clock() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def record_start(db_path: str | Path, run_id: str, now: datetime, dry_run: bool) -> None:
    with connect(db_path) as con:
        con.execute(
            """insert into ops.runs (run_id, started_at, now, dry_run, status)
               values (?, ?, ?, ?, 'running')
               on conflict (run_id) do update set status = 'running'""",
            [run_id, _wall_clock(), now, dry_run],
        )


def record_finish(db_path: str | Path, run_id: str, status: str, summary: dict) -> None:
    with connect(db_path) as con:
        con.execute(
            "update ops.runs set status = ?, finished_at = ?, summary = ? where run_id = ?",
            [status, _wall_clock(), json.dumps(redacted(summary), default=str), run_id],
        )


def is_first_run(db_path: str | Path) -> bool:
    """True when no cycle has finished on this database yet."""
    with connect(db_path) as con:
        row = con.execute("select count(*) from ops.runs where status = 'finished'").fetchone()
    return row is None or row[0] == 0
