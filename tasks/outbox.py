"""Post the outbox to the sequencer exactly once, and read back what the sequencer holds.

The decision step writes `ops.outbox` rows (status pending) in the same transaction as
the decision. `post_pending` sends them in batches through the sequencer adapter, under
the CRM's shared rate limit, and marks each row with the answer. The protocol that makes
a re-run safe after a crash anywhere:

1. before a batch is handed over, its rows get `attempts + 1` and `attempted_at`, committed;
2. the answer is committed per row: sent, rejected (a refusal, never retried) or, when the
   outcome is unknown (5xx, timeout), pending again;
3. a row that is pending with attempts > 0 may have reached the sequencer, so it is never
   posted again before the sequencer's state has been read: if the effect is there (or,
   on HubSpot, the property write carrying its change id is), it is marked without a post.

`read_enrollments` refreshes ops.enrollments / ops.sequences from the sequencer, appends
ops.enrollment_events for every change it sees, and confirms sent rows whose effect is
visible; unenrolls that were written but never took effect are listed, with the contact
owner, until they do (HubSpot's workflow may be off). It reads only what can have
changed: on HubSpot the contacts' synced sequence properties say who entered or left a
sequence, and the status call is made only for an enrollment seqguard does not know yet.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from tasks.core.config import Config
from tasks.core.errors import ConfigError, SequencerRejected
from tasks.core.redact import redacted_columns
from tasks.db import sql
from tasks.db.store import connect, transaction
from tasks.sequencers import sequencer_for
from tasks.sequencers.base import (
    CHANGE_SCHEMA,
    Sequencer,
    backoff_seconds,
)
from tasks.sync.hubspot.settings import SEQUENCE_PROPERTIES

WORKERS = 4                 # API calls in flight at once; they share the CRM's rate limit
QUEUED_BATCHES = 8          # batches selected ahead per query of the outbox
MAX_CONSECUTIVE_FAILURES = 8
# HubSpot's status call reads one contact: a first cycle on a busy account reads at most
# this many (~200 s of the private-app budget), the rest the cycles after
HUBSPOT_STATUS_READS = 2000
# the status call's enrolledAt and the contact's hs_latest_sequence_enrolled_date name
# the same enrollment when they are this close (seconds)
HUBSPOT_SAME_ENROLLMENT_S = 60
UNVERIFIED_LISTED = 200     # unverified unenrolls carried in a read's result (the report)
# a Salesforce incremental read starts this far before the newest change already seen
READ_OVERLAP = timedelta(minutes=5)

Progress = Callable[[str, int], None]


@dataclass
class PostResult:
    """What one posting pass did, for the run summary and the report."""

    crm: str
    sent: int = 0              # accepted by the sequencer
    confirmed: int = 0         # effect already visible (no post needed)
    rejected: int = 0          # refused; recorded with the reason, not retried
    failed: int = 0            # cannot be posted (no record of the person in the CRM)
    retried: int = 0           # answers with an unknown outcome, read back before resending
    pending: int = 0           # left for the next run
    batches: int = 0
    requests: int = 0
    seconds: float = 0.0
    stopped: str | None = None  # why posting stopped early, if it did
    errors: list[str] = field(default_factory=list)  # distinct refusal/failure lines


@dataclass
class ReadResult:
    """What one read of the sequencer found."""

    crm: str
    sequences: int = 0
    enrollments_read: int = 0
    new_enrollments: int = 0
    state_changes: int = 0
    confirmed: int = 0
    requests: int = 0
    seconds: float = 0.0
    unverified_total: int = 0  # unenrolls written but not seen to take effect
    unverified: list[dict[str, Any]] = field(default_factory=list)  # the oldest, with owner


# ---- entry points ------------------------------------------------------------------------

def read_enrollments(db_path: str | Path, config: Config, now: datetime,
                     sequencer: Sequencer | None = None) -> ReadResult:
    """Refresh ops.sequences and ops.enrollments from the sequencer and confirm the outbox
    rows whose effect is now visible; returns counts and the unverified unenrolls."""
    adapter = sequencer or sequencer_for(config)
    started = time.monotonic()
    result = ReadResult(crm=adapter.crm)
    with connect(db_path) as con:
        sequences = adapter.sequences()
        with transaction(con):
            con.register("seen_sequences", sequences)
            con.execute(
                """insert into ops.sequences
                   select ?, sequence_id, name, ? from seen_sequences
                   on conflict (crm, sequence_id) do update set
                       name = excluded.name, seen_at = excluded.seen_at""",
                [adapter.crm, now])
            con.unregister("seen_sequences")
        result.sequences = sequences.num_rows
        since, contacts, all_covered = _read_scope(con, adapter.crm)
        snapshot = adapter.enrollments(since, contacts)
        counts = _apply_snapshot(con, adapter.crm, now, snapshot, contacts, all_covered)
        result.enrollments_read = snapshot.num_rows
        result.new_enrollments, result.state_changes, result.confirmed = counts
        unverified = unverified_unenrolls(con)
        result.unverified_total = len(unverified)
        result.unverified = unverified[:UNVERIFIED_LISTED]
    result.requests = adapter.requests_made
    result.seconds = round(time.monotonic() - started, 3)
    return result


def post_pending(db_path: str | Path, config: Config, now: datetime, run_id: str | None = None,
                 progress: Progress | None = None,
                 sequencer: Sequencer | None = None,
                 sequences: list[str] | None = None) -> PostResult:
    """Send every pending outbox row of the configured sequencer (of one run, if given;
    of some sequences, by id or name, if given: the rest wait for the next run).

    Rows that may already have been sent are first read back from the sequencer; the rest
    go out in batches of the size the API allows, several calls in flight under the CRM's
    shared limiter. Held rows (a run stopped by the circuit breaker) are not posted.
    """
    adapter = sequencer or sequencer_for(config)
    poster = _Poster(adapter, now, run_id, progress, sequences)
    with connect(db_path) as con:
        poster.run(con)
    return poster.result


def raise_for_refusals(db_path: str | Path, change_ids: list[str]) -> None:
    """For an action a user asked for: raise SequencerRejected naming the first refused
    or unpostable change (and how many more), so the command exits non-zero."""
    with connect(db_path) as con:
        bad = con.execute(
            """select kind, email, sequence_id, crm, error from ops.outbox
               where change_id in (select unnest(?::varchar[]))
                 and status in ('rejected', 'failed')
               order by created_at, change_id""", [change_ids]).fetchall()
    if bad:
        kind, email, sequence_id, crm, error = bad[0]
        more = f" ({len(bad) - 1} more refused; see ops.outbox)" if len(bad) > 1 else ""
        where = "every sequence" if sequence_id == "*" else f"sequence {sequence_id}"
        raise SequencerRejected(f"{crm} refused to {kind} {email} ({where}): {error}{more}")


def unverified_unenrolls(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Unenrolls written but not yet seen to take effect, oldest first, with the owner."""
    cursor = con.execute(_sql("unverified_unenrolls"))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# ---- the poster ----------------------------------------------------------------------------

@dataclass
class _Batch:
    kind: str
    rows: pa.Table
    people: list[str]


class _Poster:
    """One posting pass: reconcile what may have been sent, then post the rest."""

    def __init__(self, adapter: Sequencer, now: datetime, run_id: str | None,
                 progress: Progress | None, sequences: list[str] | None = None) -> None:
        self.adapter = adapter
        self.crm = adapter.crm
        self.now = now
        self.run_id = run_id
        self.sequences = sequences  # None: every sequence
        self.progress = progress
        self.result = PostResult(crm=adapter.crm)
        self.reconciled: dict[str, int] = {}  # change_id -> attempts when last read back
        self.failures = 0

    def run(self, con: duckdb.DuckDBPyConnection) -> None:
        started = time.monotonic()
        try:
            self._resolve_people(con)
            kinds = {r[0] for r in con.execute(
                "select distinct kind from ops.outbox where crm = ? and status = 'pending'",
                [self.crm]).fetchall()}
            if kinds:
                self.adapter.prepare(kinds)
            self._reconcile(con, self._in_doubt(con))
            self._post_all(con)
        finally:
            self.result.pending = con.execute(
                "select count(*) from ops.outbox where crm = ? and status = 'pending' "
                "and (? is null or run_id = ?)", [self.crm, self.run_id, self.run_id],
            ).fetchone()[0]
            self.result.requests = self.adapter.requests_made
            self.result.seconds = round(time.monotonic() - started, 3)

    # -- people and doubt --

    def _resolve_people(self, con: duckdb.DuckDBPyConnection) -> None:
        """Fill record ids (and HubSpot senders) from crm.people; rows that still name no
        record cannot be posted and fail with the reason."""
        with transaction(con):
            con.execute(_sql("resolve_contacts"), {"crm": self.crm})
            failed = con.execute(
                """update ops.outbox
                   set status = 'failed', error = 'no ' || crm || ' record with email '
                       || email || ' in crm.people; sync the CRM, or the person was deleted'
                   where crm = ? and status = 'pending' and contact_id is null
                   returning error""", [self.crm]).fetchall()
        self.result.failed += len(failed)
        self._note_errors(row[0] for row in failed)

    def _in_doubt(self, con: duckdb.DuckDBPyConnection) -> pa.Table:
        """Rows that may have reached the sequencer without their answer being recorded:
        pending after an attempt. (Sent rows are never posted again, so they cannot be
        doubled; `read_enrollments` confirms them, and lists those that never took effect.)
        Cast to CHANGE_SCHEMA: the outbox stores start_step as an integer.
        """
        return _arrow(
            con, f"""select {_CHANGE_COLUMNS} from ops.outbox
                     where crm = $crm and status = 'pending' and attempts > 0
                       and ($run_id is null or run_id = $run_id)""",
            {"crm": self.crm, "run_id": self.run_id}).cast(CHANGE_SCHEMA)

    def _reconcile(self, con: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
        """Find out whether `rows` reached the sequencer, so nothing is sent twice.

        First the trace a change leaves (HubSpot: the property write carrying its id):
        those are sent, and their effect is confirmed by a later read. For kinds without a
        trace the enrollment state is read: a change whose effect is there is confirmed.
        What is left did not arrive and is posted again.
        """
        if rows.num_rows == 0:
            return
        written = self.adapter.written(rows)
        if written.num_rows:
            with transaction(con):
                con.execute(
                    """update ops.outbox set status = 'sent', sent_at = ?, error = null
                       where status = 'pending'
                         and change_id in (select unnest(?::varchar[]))""",
                    [self.now, written.column("change_id").to_pylist()])
            self.result.sent += written.num_rows
        traced = pc.is_in(rows.column("kind"),
                          pa.array(sorted(self.adapter.traceable_kinds), pa.string()))
        unseen = rows.filter(pc.and_(pc.invert(traced), pc.invert(pc.is_in(
            rows.column("change_id"), written.column("change_id")))))
        if unseen.num_rows:
            contacts = unseen.select(["contact_id"])
            snapshot = self.adapter.enrollments(None, contacts)
            _, _, confirmed = _apply_snapshot(con, self.crm, self.now, snapshot, contacts,
                                              False)
            self.result.confirmed += confirmed
        for change_id, attempts in con.execute(
                "select change_id, attempts from ops.outbox where change_id in "
                "(select unnest(?::varchar[]))", [rows.column("change_id").to_pylist()],
        ).fetchall():
            self.reconciled[change_id] = attempts

    # -- posting --

    def _post_all(self, con: duckdb.DuckDBPyConnection) -> None:
        queue: deque[_Batch] = deque()
        in_flight: dict[Future[pa.Table], _Batch] = {}
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="post") as pool:
            try:
                while True:
                    if not queue and self.result.stopped is None:
                        queue.extend(self._next_batches(con, in_flight))
                    while queue and len(in_flight) < WORKERS and self.result.stopped is None:
                        batch = queue.popleft()
                        self._mark_attempt(con, batch)
                        in_flight[pool.submit(self._send, batch)] = batch
                    if not in_flight:
                        return
                    done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                    for future in done:
                        batch = in_flight.pop(future)
                        self._record(con, batch, future.result())
                    if self.failures and self.result.stopped is None:
                        # back off before more calls to a sequencer that is failing
                        time.sleep(backoff_seconds(self.failures, base=0.25, cap=10))
            except BaseException:
                # a crash of this process is what the attempt marks are for; an error
                # here stops new calls and lets the ones in flight finish and be recorded
                for future in list(in_flight):
                    batch = in_flight.pop(future)
                    try:
                        self._record(con, batch, future.result())
                    except Exception:  # noqa: BLE001 - the first error is the one raised
                        pass
                raise

    def _next_batches(self, con: duckdb.DuckDBPyConnection,
                      in_flight: dict[Future[pa.Table], _Batch]) -> list[_Batch]:
        """The next batches of one kind, leaving out people being posted; rows that failed
        with an unknown outcome since they were last read back are read back first."""
        busy = [p for b in in_flight.values() for p in b.people]
        for _ in range(3):
            kind_limit = {k: self.adapter.batch_limit(k)
                          for k in ("unenroll", "pause", "resume", "enroll")}
            rows = _arrow(con, _sql("next_batch"), {
                "crm": self.crm, "run_id": self.run_id, "busy": busy,
                "sequences": self.sequences,
                "limit": max(kind_limit.values()) * QUEUED_BATCHES,
            })
            if rows.num_rows == 0:
                return []
            doubtful = [c for c, a in zip(rows.column("change_id").to_pylist(),
                                          rows.column("attempts").to_pylist(), strict=True)
                        if a > 0 and self.reconciled.get(c) != a]
            if not doubtful:
                kind = rows.column("kind")[0].as_py()
                size = kind_limit[kind]
                return [_Batch(kind, rows.slice(i, size).select(CHANGE_SCHEMA.names),
                               rows.column("person").slice(i, size).to_pylist())
                        for i in range(0, rows.num_rows, size)]
            doubt = rows.filter(pc.is_in(rows.column("change_id"),
                                                 pa.array(doubtful, pa.string())))
            self._reconcile(con, doubt.select(CHANGE_SCHEMA.names))
        return []

    def _mark_attempt(self, con: duckdb.DuckDBPyConnection, batch: _Batch) -> None:
        """Committed before the call: after a crash these rows are known to be in doubt."""
        with transaction(con):
            con.execute(
                """update ops.outbox set attempts = attempts + 1, attempted_at = ?
                   where change_id in (select unnest(?::varchar[]))""",
                [self.now, batch.rows.column("change_id").to_pylist()])

    def _send(self, batch: _Batch) -> pa.Table:
        """Runs on a worker thread: one API call (HubSpot enrolls: one per change)."""
        return getattr(self.adapter, batch.kind)(batch.rows)

    def _record(self, con: duckdb.DuckDBPyConnection, batch: _Batch, answer: pa.Table) -> None:
        """Mark each row of a batch with the sequencer's answer, in one transaction (remote
        text redacted: a server may echo the token)."""
        answer = redacted_columns(answer, ("response", "error"))
        with transaction(con):
            con.register("answer", answer)
            con.execute(
                """update ops.outbox x set
                       status = case a.outcome when 'retry' then 'pending' else a.outcome end,
                       sent_at = case when a.outcome = 'sent' then ? else x.sent_at end,
                       confirmed_at = case when a.outcome = 'confirmed' then ?
                                           else x.confirmed_at end,
                       enrollment_id = coalesce(a.enrollment_id, x.enrollment_id),
                       response = coalesce(cast(a.response as json), x.response),
                       error = a.error
                   from answer a where x.change_id = a.change_id""",
                [self.now, self.now])
            con.unregister("answer")
        outcomes = answer.column("outcome").to_pylist()
        self.result.batches += 1
        self.result.sent += outcomes.count("sent")
        self.result.confirmed += outcomes.count("confirmed")
        self.result.rejected += outcomes.count("rejected")
        retried = outcomes.count("retry")
        self.result.retried += retried
        errors = [e for e, o in zip(answer.column("error").to_pylist(), outcomes, strict=True)
                  if o in ("rejected", "retry") and e]
        self._note_errors(errors)
        if retried:
            self.failures += 1
            if self.failures >= MAX_CONSECUTIVE_FAILURES:
                self.result.stopped = (
                    f"{self.crm}: {self.failures} calls in a row failed ({errors[-1]}); the "
                    "rest stays pending for the next run")
        else:
            self.failures = 0
        if self.progress is not None:
            self.progress(batch.kind, len(outcomes) - retried)

    def _note_errors(self, errors: Any) -> None:
        for error in errors:
            if error not in self.result.errors and len(self.result.errors) < 10:
                self.result.errors.append(error)


_CHANGE_COLUMNS = ", ".join(CHANGE_SCHEMA.names)


# ---- reading the sequencer's state ------------------------------------------------------

def _read_scope(con: duckdb.DuckDBPyConnection, crm: str
                ) -> tuple[datetime | None, pa.Table, bool]:
    """What to read: (since, contacts to read in full, whether the read covers everyone).

    Salesforce lists trackers changed since a time, so one incremental query covers every
    enrollment. HubSpot answers per contact, but the contacts' synced sequence properties
    cover everyone: only contacts in an enrollment seqguard does not know are read.
    """
    if crm == "hubspot":
        _hubspot_sequence_props(con)
        contacts = _arrow(con, _sql("hubspot_status_reads"),
                          {"tolerance": HUBSPOT_SAME_ENROLLMENT_S,
                           "limit": HUBSPOT_STATUS_READS})
        return None, contacts, True
    waiting = _arrow(
        con, """select distinct contact_id from ops.outbox
                where crm = ? and contact_id is not null
                  and (status = 'sent' or (status = 'pending' and attempts > 0))""",
        [crm])
    newest = con.execute(
        "select max(updated_at) from ops.enrollments where crm = ?", [crm]).fetchone()[0]
    return (newest - READ_OVERLAP if newest else None), waiting, True


def _hubspot_sequence_props(con: duckdb.DuckDBPyConnection) -> None:
    """The typed view of the contacts' sequence properties (hubspot_sequence_props), or a
    clear error when the sync has not brought them in."""
    present = {r[0] for r in con.execute(
        """select column_name from duckdb_columns()
           where schema_name = 'raw_hubspot' and table_name = 'contacts'""").fetchall()}
    missing = [n for n in SEQUENCE_PROPERTIES if n not in present]
    if missing:
        raise ConfigError(
            f"raw_hubspot.contacts has no {', '.join(missing)}: HubSpot's sequence "
            "properties have not been synced; run `seqguard cycle`, which syncs HubSpot "
            "before it reads enrollments")
    con.execute(_sql("hubspot_sequence_props"))


def _apply_snapshot(con: duckdb.DuckDBPyConnection, crm: str, now: datetime,
                    snapshot: pa.Table, covered: pa.Table, all_covered: bool
                    ) -> tuple[int, int, int]:
    """Merge one read into ops.enrollments, append the events it shows, and confirm the
    outbox rows whose effect is visible. Returns (new, changed, confirmed)."""
    params = {"crm": crm, "now": now, "tolerance": HUBSPOT_SAME_ENROLLMENT_S}
    if crm == "hubspot":
        _hubspot_sequence_props(con)
    with transaction(con):
        con.register("seen", snapshot)
        con.register("covered", covered.select(["contact_id"]))
        # HubSpot: the status call says which enrollment, the properties whether it ended
        _run(con, "hubspot_seen_enrollments" if crm == "hubspot" else "seen_enrollments",
             params)
        new, changed = con.execute(
            """select count(*) filter (where o.enrollment_id is null),
                      count(*) filter (where o.state <> s.state)
               from seen_enrollments s
               left join ops.enrollments o on o.crm = ? and o.enrollment_id = s.enrollment_id""",
            [crm]).fetchone()
        _run(con, "enrollment_events", params)
        _run(con, "upsert_enrollments", params)
        confirmed = _run(con, "confirm_outbox", {**params, "all_covered": all_covered},
                         suffix=" returning x.change_id")
        con.unregister("seen")
        con.unregister("covered")
    return int(new), int(changed), len(confirmed)


def _sql(name: str) -> str:
    return sql.text(f"post/{name}")


def _run(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any],
         suffix: str = "") -> list[tuple]:
    """Run a sql/post file with the named parameters it uses (DuckDB refuses extras)."""
    text = _sql(name) + suffix
    used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", text)}
    return con.execute(text, used).fetchall()


def _arrow(con: duckdb.DuckDBPyConnection, sql: str,
           params: dict[str, Any] | list[Any] | None = None) -> pa.Table:
    return con.sql(sql, params=params).to_arrow_table()
