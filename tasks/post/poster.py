"""Post the outbox to the sequencer exactly once.

The decision step writes `ops.outbox` rows (status pending) in the same transaction as
the decision. `post_pending` sends them in batches through the sequencer adapter, under
the CRM's shared rate limit, and marks each row with the answer. The protocol that makes
a re-run safe after a crash anywhere:

1. before a batch is handed over, its rows get `attempts + 1` and `attempted_at`, committed;
2. the answer is committed per row: sent, rejected (a refusal, never retried) or, when the
   outcome is unknown (5xx, timeout), pending again;
3. a row that is pending with attempts > 0 may have reached the sequencer, so it is never
   posted again before the sequencer's state has been read (tasks/post/reads.py): if the
   effect is there (or, on HubSpot, the property write carrying its change id is), it is
   marked without a post."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from tasks.core.config import Config
from tasks.core.errors import SequencerRejected
from tasks.core.redact import redacted_columns
from tasks.db import sql
from tasks.db.arrow import registered
from tasks.db.store import connect, transaction
from tasks.post.own_people import resolve_people
from tasks.post.reads import apply_snapshot
from tasks.post.sequencers import sequencer_for
from tasks.post.sequencers.base import CHANGE_SCHEMA, Sequencer, backoff_seconds, own_people

WORKERS = 4                 # API calls in flight at once; they share the CRM's rate limit


QUEUED_BATCHES = 8          # batches selected ahead per query of the outbox


MAX_CONSECUTIVE_FAILURES = 8


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
        bad = sql.fetch(con, "post/refusals", change_ids=change_ids)
    if bad:
        kind, email, sequence_id, crm, error = bad[0]
        more = f" ({len(bad) - 1} more refused; see ops.outbox)" if len(bad) > 1 else ""
        where = "every sequence" if sequence_id == "*" else f"sequence {sequence_id}"
        raise SequencerRejected(f"{crm} refused to {kind} {email} ({where}): {error}{more}")


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
            kinds = {r[0] for r in sql.fetch(con, "post/pending_kinds", crm=self.crm)}
            if kinds:
                self.adapter.prepare(kinds)
            self._reconcile(con, self._in_doubt(con))
            self._post_all(con)
        finally:
            self.result.pending = sql.scalar(con, "post/pending_count", crm=self.crm,
                                             run_id=self.run_id)
            self.result.requests = self.adapter.requests_made
            self.result.seconds = round(time.monotonic() - started, 3)

    # -- people and doubt --

    def _resolve_people(self, con: duckdb.DuckDBPyConnection) -> None:
        """Fill record ids (and HubSpot senders) from crm.people, or a sequencer's own
        person ids through its `people`; rows that still name no one cannot be posted and
        fail with the reason."""
        own = own_people(self.adapter)
        if own is not None:
            errors = resolve_people(con, own, self.now)
        else:
            with transaction(con):
                sql.run(con, "post/resolve_contacts", crm=self.crm)
                errors = [row[0] for row in sql.fetch(con, "post/unpostable", crm=self.crm)]
        self.result.failed += len(errors)
        self._note_errors(errors)

    def _in_doubt(self, con: duckdb.DuckDBPyConnection) -> pa.Table:
        """Rows that may have reached the sequencer without their answer being recorded:
        pending after an attempt. (Sent rows are never posted again, so they cannot be
        doubled; `read_enrollments` confirms them, and lists those that never took effect.)
        Cast to CHANGE_SCHEMA: the outbox stores start_step as an integer.
        """
        return sql.arrow(con, "post/in_doubt", crm=self.crm, run_id=self.run_id
                         ).cast(CHANGE_SCHEMA)

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
                sql.run(con, "post/mark_written", now=self.now,
                        change_ids=written.column("change_id").to_pylist())
            self.result.sent += written.num_rows
        traced = pc.is_in(rows.column("kind"),
                          pa.array(sorted(self.adapter.traceable_kinds), pa.string()))
        unseen = rows.filter(pc.and_(pc.invert(traced), pc.invert(pc.is_in(
            rows.column("change_id"), written.column("change_id")))))
        if unseen.num_rows:
            contacts = unseen.select(["contact_id"])
            snapshot = self.adapter.enrollments(None, contacts)
            _, _, confirmed = apply_snapshot(con, self.crm, self.now, snapshot, contacts,
                                              False)
            self.result.confirmed += confirmed
        for change_id, attempts in sql.fetch(con, "post/attempts",
                                             change_ids=rows.column("change_id").to_pylist()):
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
            rows = sql.arrow(con, "post/next_batch", crm=self.crm, run_id=self.run_id, busy=busy,
                             sequences=self.sequences,
                             limit=max(kind_limit.values()) * QUEUED_BATCHES)
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
            sql.run(con, "post/mark_attempt", now=self.now,
                    change_ids=batch.rows.column("change_id").to_pylist())

    def _send(self, batch: _Batch) -> pa.Table:
        """Runs on a worker thread: one API call (HubSpot enrolls: one per change)."""
        return getattr(self.adapter, batch.kind)(batch.rows)

    def _record(self, con: duckdb.DuckDBPyConnection, batch: _Batch, answer: pa.Table) -> None:
        """Mark each row of a batch with the sequencer's answer, in one transaction (remote
        text redacted: a server may echo the token)."""
        answer = redacted_columns(answer, ("response", "error"))
        with transaction(con), registered(con, answer=answer):
            sql.run(con, "post/record_answer", now=self.now)
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
