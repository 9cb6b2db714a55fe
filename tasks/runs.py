"""ops.runs: one row per cycle, so every decision can be traced to the run that made it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from tasks.core.clock import utcnow
from tasks.core.errors import ConfigError
from tasks.core.redact import redacted
from tasks.db.store import connect, publish_reader_copy

# the latest cycle time whose decisions were committed: a run that finished (or waits for
# approval), or any that wrote changes to post (one that crashed after deciding)
LAST_COMMITTED_SQL = """
select run_id, now from ops.runs
where not dry_run and run_id <> $run_id
    and (status in ('finished', 'awaiting_approval')
         or run_id in (select run_id from ops.outbox where run_id is not null))
order by now desc
limit 1
"""


def check_time(db_path: str | Path, run_id: str, now: datetime, dry_run: bool,
               allow_past_now: bool) -> None:
    """Refuse a cycle time earlier than the last committed run's: windows, delays and
    propagation would be judged at a time already past, and its unenrolls posted for real.
    A dry run may look back; `allow_past_now` says the person means it."""
    if dry_run or allow_past_now:
        return
    with connect(db_path) as con:
        last = con.execute(LAST_COMMITTED_SQL, {"run_id": run_id}).fetchall()
    if last and now < last[0][1]:
        raise ConfigError(
            f"cycle time {now.isoformat(sep=' ')} is before {last[0][1].isoformat(sep=' ')}, "
            f"the cycle time of run {last[0][0]} already committed; time cannot go back: pass "
            "a later --now, --dry-run to look without posting, or --allow-past-now "
            "(flow parameter allow_past_now) to run it anyway")


def record_start(db_path: str | Path, run_id: str, now: datetime, dry_run: bool) -> None:
    with connect(db_path) as con:
        con.execute(
            """insert into ops.runs (run_id, started_at, now, dry_run, status)
               values (?, ?, ?, ?, 'running')
               on conflict (run_id) do update set status = 'running'""",
            [run_id, utcnow(), now, dry_run],
        )


def record_finish(db_path: str | Path, run_id: str, status: str, summary: dict) -> None:
    with connect(db_path) as con:
        con.execute(
            "update ops.runs set status = ?, finished_at = ?, summary = ? where run_id = ?",
            [status, utcnow(), json.dumps(redacted(summary), default=str), run_id],
        )
    # what this run committed, for explain, preview, lint and DuckDB sessions during the next
    publish_reader_copy(db_path)


def is_first_run(db_path: str | Path) -> bool:
    """True when no cycle has finished on this database yet."""
    with connect(db_path) as con:
        row = con.execute("select count(*) from ops.runs where status = 'finished'").fetchone()
    return row is None or row[0] == 0
