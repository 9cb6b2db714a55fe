"""Plays: who enters which sequence, and when.

Each cycle the audience of every enabled crm_event and schedule play is run (read-only,
like a rule) and new people are queued in ops.play_queue with `release_at` = event time
+ the play's delay (crm_event 20-30 min, default 30; schedule and manual: 0). The
decision step (tasks/decide/decide.py) takes the items due by the cycle's time as
requests and checks exclusions then, not when they were queued.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from tasks.core.config import DEFAULT_RULE_TIMEOUT
from tasks.db import sql
from tasks.db.arrow import load_table
from tasks.db.store import connect, transaction
from tasks.rules.budget import BudgetExceeded, within_budget
from tasks.rules.engine import rule_connection
from tasks.rules.play_files import Play
from tasks.rules.project import load_project

PLAYS_SCHEMA = pa.schema([
    ("name", pa.string()), ("sequence", pa.string()), ("trigger", pa.string()),
    ("delay_seconds", pa.int64()), ("allow_reenrollment", pa.bool_()),
    ("max_per_company", pa.int64()), ("sender", pa.string()), ("enabled", pa.bool_()),
    ("runnable", pa.bool_()),
])
AUDIENCE_SCHEMA = pa.schema([
    ("play", pa.string()), ("email", pa.string()), ("event_at", pa.timestamp("us")),
])
# plays whose audience each cycle runs; manual plays run only when asked for
CYCLE_TRIGGERS = ("crm_event", "schedule")


@dataclass
class QueueResult:
    """What queueing did this cycle, per play."""

    queued: dict[str, int] = field(default_factory=dict)
    audience: dict[str, int] = field(default_factory=dict)
    closed: int = 0  # items of disabled or removed plays closed as skipped
    problems: list[str] = field(default_factory=list)


def load_plays(project_dir: str | Path) -> list[Play]:
    """Every play file of the project, broken ones included (their items wait)."""
    return load_project(project_dir).plays


def plays_table(plays: Iterable[Play]) -> pa.Table:
    """The plays' settings as one table the SQL joins on."""
    rows = [
        {
            "name": p.name, "sequence": p.sequence, "trigger": p.trigger,
            "delay_seconds": int(p.delay.total_seconds()),
            "allow_reenrollment": p.allow_reenrollment,
            "max_per_company": p.max_enrollments_per_company, "sender": p.sender,
            "enabled": p.enabled, "runnable": p.runnable,
        }
        for p in plays
    ]
    return pa.Table.from_pylist(rows, schema=PLAYS_SCHEMA)


def audience_table(play: str, result: pa.Table) -> pa.Table:
    """One play's audience rows (email [, event_at]) in AUDIENCE_SCHEMA."""
    n = result.num_rows
    event_at = (result.column("event_at").cast(pa.timestamp("us"))
                if "event_at" in result.column_names else pa.nulls(n, pa.timestamp("us")))
    return pa.Table.from_arrays(
        [pa.array([play] * n, pa.string()), result.column("email").cast(pa.string()), event_at],
        schema=AUDIENCE_SCHEMA,
    )


def run_audiences(db_path: str | Path, plays: list[Play], now: datetime,
                  budget: timedelta = DEFAULT_RULE_TIMEOUT) -> tuple[pa.Table, list[str]]:
    """Run each play's audience SQL the way rules run (read-only, external access off,
    `cycle_time()` = now, within the rule time budget); returns all rows and one problem
    line per play that failed (it queues nobody this cycle)."""
    tables, problems = [], []
    if not plays:
        return AUDIENCE_SCHEMA.empty_table(), problems
    with rule_connection(db_path, now) as con:
        for play in plays:
            try:
                with within_budget(con, budget):
                    result = con.sql(play.audience_sql).to_arrow_table()
            except BudgetExceeded as exc:
                problems.append(f"{play.audience_display}: the audience was {exc}; nobody "
                                "queued from it this cycle; make it cheaper, or raise "
                                "rule_timeout in seqguard.yml")
                continue
            except duckdb.Error as exc:
                problems.append(f"{play.audience_display}: the audience failed "
                                f"({str(exc).splitlines()[0]}); nobody queued from it this cycle")
                continue
            if "email" not in result.column_names:
                problems.append(f"{play.audience_display}: the audience returns no email "
                                "column; select email [, event_at]")
                continue
            tables.append(audience_table(play.name, result))
    return (pa.concat_tables(tables) if tables else AUDIENCE_SCHEMA.empty_table()), problems


def queue_plays(db_path: str | Path, project_dir: str | Path, now: datetime, *,
                sequencer: str = "hubspot", only: list[str] | None = None,
                include_manual: bool = False,
                rule_timeout: timedelta = DEFAULT_RULE_TIMEOUT) -> QueueResult:
    """Run the audiences of the enabled plays and queue the new people (one transaction).

    A play file with problems is not run (lint names them); `only` limits the plays and
    `include_manual` also runs manual plays (a person triggering them). Each audience
    runs within `rule_timeout`.
    """
    loaded = load_plays(project_dir)
    triggers = CYCLE_TRIGGERS + (("manual",) if include_manual else ())
    wanted = [p for p in loaded if p.enabled and p.trigger in triggers
              and (only is None or p.name in only)]
    result = QueueResult(problems=[str(x) for p in wanted for x in p.problems])
    runnable = [p for p in wanted if p.runnable]
    audience, problems = run_audiences(db_path, runnable, now, rule_timeout)
    result.problems += problems
    with connect(db_path) as con, transaction(con):
        load_table(con, "d_plays", plays_table(loaded), PLAYS_SCHEMA)
        load_table(con, "d_audience", audience, AUDIENCE_SCHEMA)
        sql.materialize(con, "d_queue", "decide/queue", now=now, sequencer=sequencer)
        sql.run(con, "decide/play_queue")
        counts = sql.fetch(con, "decide/queued_counts")
        result.queued = {play: n for what, play, n in counts if what == "queued"}
        result.audience = {play: n for what, play, n in counts if what == "audience"}
        result.problems += unknown_sequences(con, runnable, sequencer)
        result.closed = close_orphans(con, loaded, now)
    return result


def unknown_sequences(con: duckdb.DuckDBPyConnection, plays: list[Play],
                      sequencer: str) -> list[str]:
    """A line per play whose sequence the sequencer does not have (nobody queued)."""
    known = {r[0] for r in sql.fetch(con, "decide/known_sequence_keys", sequencer=sequencer)}
    return [f"{p.display}: sequence '{p.sequence}' is not at the {sequencer} sequencer; fix "
            "`sequence:` (id or name); nobody queued" for p in plays if p.sequence not in known]


def close_orphans(con: duckdb.DuckDBPyConnection, plays: list[Play], now: datetime) -> int:
    """Queued items of a play now disabled or removed are skipped, never released later
    for an old event. Items of a broken play file keep waiting (fail closed)."""
    live = [p.name for p in plays if p.enabled]
    return int(sql.scalar(con, "decide/close_orphans", live=live) or 0)


def due_requests(con: duckdb.DuckDBPyConnection, plays: list[Play], now: datetime,
                 sequencer: str) -> tuple[pa.Table, list[str]]:
    """The play items released by `now`, as enrollment requests (REQUEST_SCHEMA)."""
    load_table(con, "d_plays", plays_table(plays), PLAYS_SCHEMA)
    table = sql.arrow(con, "decide/released", now=now, sequencer=sequencer)
    waiting = sql.fetch(con, "decide/waiting_items", now=now)
    warnings = [f"play {name}: {n} released item(s) wait until its file is fixed (see lint)"
                for name, n in waiting]
    return table, warnings
