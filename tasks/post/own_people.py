"""What a sequencer with people of its own (Outreach, Salesloft, Apollo) says about people.

Its person ids: the outbox names people by email, and such a sequencer wants its own id.
The poster looks up, in batches through the adapter's `people`, only the emails of pending
changes it has never looked up, and keeps them in raw_sequencer.people; a person the
sequencer does not have fails the change with the reason (seqguard never creates one).

Its activity: the replies, bounces and unsubscribes its emails met are read through the
adapter's `activity` since the latest the last read saw, into raw_sequencer.activity, in
the cycle's sync step, so the model's crm.engagements and crm.people carry them before the
rules run and the built-in rules (replied, bounced, unsubscribed) act on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from tasks.core.config import Config
from tasks.db import sql
from tasks.db.arrow import registered
from tasks.db.store import connect, transaction
from tasks.post.sequencers import sequencer_for
from tasks.post.sequencers.base import ACTIVITY_SCHEMA, OwnPeopleSequencer, own_people


@dataclass(frozen=True)
class ActivityRead:
    """One read, shaped like a CRM sync's result (the run summary prints both alike)."""

    crm: str
    objects: dict[str, dict[str, int]]   # {"activity": {"rows": n}}
    since: datetime | None
    requests: int


def resolve_people(con: duckdb.DuckDBPyConnection, adapter: OwnPeopleSequencer,
                   now: datetime) -> list[str]:
    """Fill the sequencer's person ids (and owners as senders) into pending changes; the
    changes whose person it lacks fail. Returns their errors."""
    unknown = sql.arrow(con, "sequencer/unresolved_emails", crm=adapter.crm)
    if unknown.num_rows:
        found = adapter.people(unknown)
        with transaction(con), registered(con, found_people=found):
            sql.run(con, "sequencer/store_people", crm=adapter.crm, now=now)
    with transaction(con):
        sql.run(con, "sequencer/resolve_contacts", crm=adapter.crm)
        return [row[0] for row in sql.fetch(con, "sequencer/unpostable", crm=adapter.crm)]


def read_activity(db_path: str | Path, config: Config, now: datetime) -> ActivityRead | None:
    """Read what the configured sequencer recorded since the last read into
    raw_sequencer.activity; None when its people are the CRM's (HubSpot, Salesforce: their
    activity comes with the CRM sync)."""
    adapter = own_people(sequencer_for(config))
    if adapter is None:
        return None
    with connect(db_path) as con:
        since = sql.scalar(con, "sequencer/activity_watermark", crm=adapter.crm)
        found = adapter.activity(since).cast(ACTIVITY_SCHEMA)
        with transaction(con), registered(con, read_activity=found):
            sql.run(con, "sequencer/merge_activity", crm=adapter.crm, now=now)
    return ActivityRead(crm=adapter.crm, objects={"activity": {"rows": found.num_rows}},
                        since=since,
                        requests=adapter.requests_made)
