"""Read back what the sequencer holds: `read_enrollments` refreshes ops.sequences and
ops.enrollments, appends ops.enrollment_events for every change it sees, and confirms the
outbox rows whose effect is now visible; unenrolls that were written but never took
effect are listed, with the contact owner, until they do (HubSpot's workflow may be off).

It reads only what can have changed: Salesforce lists trackers changed since a time, so
one incremental query covers every enrollment; on HubSpot the contacts' synced sequence
properties say who entered or left a sequence, and the status call is made only for an
enrollment seqguard does not know yet."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tasks.core.config import Config
from tasks.core.errors import ConfigError
from tasks.db import sql
from tasks.db.arrow import registered
from tasks.db.store import connect, transaction
from tasks.post.sequencers import sequencer_for
from tasks.post.sequencers.base import Sequencer
from tasks.sync.hubspot.settings import SEQUENCE_PROPERTIES

# HubSpot's status call reads one contact: a first cycle on a busy account reads at most
# this many (~200 s of the private-app budget), the rest the cycles after
HUBSPOT_STATUS_READS = 2000


# the status call's enrolledAt and the contact's hs_latest_sequence_enrolled_date name
# the same enrollment when they are this close (seconds)
HUBSPOT_SAME_ENROLLMENT_S = 60


UNVERIFIED_LISTED = 200     # unverified unenrolls carried in a read's result (the report)


# a Salesforce incremental read starts this far before the newest change already seen
READ_OVERLAP = timedelta(minutes=5)


@dataclass
class ReadResult:
    """What one read of the sequencer found."""

    crm: str
    sequences: int = 0
    enrollments_read: int = 0  # as the sequencer answered: changed ones, or a contact's
    new_enrollments: int = 0   # not in ops.enrollments before
    state_changes: int = 0     # active, paused, finished or unenrolled since the last read
    confirmed: int = 0         # outbox rows whose effect this read showed
    requests: int = 0
    seconds: float = 0.0
    unverified_total: int = 0  # unenrolls written but not seen to take effect
    unverified: list[dict[str, Any]] = field(default_factory=list)  # the oldest, with owner


def read_enrollments(db_path: str | Path, config: Config, now: datetime,
                     sequencer: Sequencer | None = None) -> ReadResult:
    """Refresh ops.sequences and ops.enrollments from the sequencer and confirm the outbox
    rows whose effect is now visible; returns counts and the unverified unenrolls."""
    adapter = sequencer or sequencer_for(config)
    started = time.monotonic()
    result = ReadResult(crm=adapter.crm)
    with connect(db_path) as con:
        sequences = adapter.sequences()
        with transaction(con), registered(con, seen_sequences=sequences):
            sql.run(con, "post/upsert_sequences", crm=adapter.crm, now=now)
        result.sequences = sequences.num_rows
        since, contacts, all_covered = _read_scope(con, adapter.crm)
        snapshot = adapter.enrollments(since, contacts)
        if since is not None and getattr(adapter, "lists_every_enrollment", False):
            # a read of everyone (Apollo's): an open enrollment it no longer lists ended
            contacts = sql.arrow(con, "post/open_contacts", crm=adapter.crm)
        counts = apply_snapshot(con, adapter.crm, now, snapshot, contacts, all_covered)
        result.enrollments_read = snapshot.num_rows
        result.new_enrollments, result.state_changes, result.confirmed = counts
        unverified = unverified_unenrolls(con)
        result.unverified_total = len(unverified)
        result.unverified = unverified[:UNVERIFIED_LISTED]
    result.requests = adapter.requests_made
    result.seconds = round(time.monotonic() - started, 3)
    return result


def unverified_unenrolls(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Unenrolls written but not yet seen to take effect, oldest first, with the owner."""
    return sql.dicts(con, "post/unverified_unenrolls")


def _read_scope(con: duckdb.DuckDBPyConnection, crm: str
                ) -> tuple[datetime | None, pa.Table, bool]:
    """What to read: (since, contacts to read in full, whether the read covers everyone).

    Salesforce lists trackers changed since a time, so one incremental query covers every
    enrollment. HubSpot answers per contact, but the contacts' synced sequence properties
    cover everyone: only contacts in an enrollment seqguard does not know are read.
    """
    if crm == "hubspot":
        _hubspot_sequence_props(con)
        contacts = sql.arrow(con, "post/hubspot_status_reads",
                             tolerance=HUBSPOT_SAME_ENROLLMENT_S, limit=HUBSPOT_STATUS_READS)
        return None, contacts, True
    waiting = sql.arrow(con, "post/salesforce_waiting", crm=crm)
    newest = con.execute(
        "select max(updated_at) from ops.enrollments where crm = ?", [crm]).fetchall()[0][0]
    return (newest - READ_OVERLAP if newest else None), waiting, True


def _hubspot_sequence_props(con: duckdb.DuckDBPyConnection) -> None:
    """The typed view of the contacts' sequence properties (hubspot_sequence_props), or a
    clear error when the sync has not brought them in."""
    present = {r[0] for r in sql.fetch(con, "sync/raw_columns", schema="raw_hubspot",
                                        table="contacts")}
    missing = [n for n in SEQUENCE_PROPERTIES if n not in present]
    if missing:
        raise ConfigError(
            f"raw_hubspot.contacts has no {', '.join(missing)}: HubSpot's sequence "
            "properties have not been synced; run `seqguard cycle`, which syncs HubSpot "
            "before it reads enrollments")
    sql.run(con, "post/hubspot_sequence_props")


def apply_snapshot(con: duckdb.DuckDBPyConnection, crm: str, now: datetime,
                    snapshot: pa.Table, covered: pa.Table, all_covered: bool
                    ) -> tuple[int, int, int]:
    """Merge one read into ops.enrollments, append the events it shows, and confirm the
    outbox rows whose effect is visible. Returns (new, changed, confirmed)."""
    if crm == "hubspot":
        _hubspot_sequence_props(con)
    with transaction(con), registered(con, seen=snapshot,
                                      covered=covered.select(["contact_id"])):
        # HubSpot: the status call says which enrollment, the properties whether it ended
        if crm == "hubspot":
            sql.run(con, "post/hubspot_seen_enrollments", now=now,
                    tolerance=HUBSPOT_SAME_ENROLLMENT_S)
        else:
            sql.run(con, "post/seen_enrollments", crm=crm, now=now)
        new, changed = sql.fetch(con, "post/snapshot_counts", crm=crm)[0]
        sql.run(con, "post/enrollment_events", crm=crm)
        sql.run(con, "post/upsert_enrollments", crm=crm, now=now)
        confirmed = sql.fetch(con, "post/confirm_outbox", crm=crm, now=now,
                              all_covered=all_covered)
    return int(new), int(changed), len(confirmed)
