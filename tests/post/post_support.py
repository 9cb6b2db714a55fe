"""Helpers for the poster tests: people in the sandbox's CRMs, outbox rows written the
way the decision step writes them, a cycle's read of HubSpot (sync, then read), and the
sandbox's own record of what was posted."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from sandbox.client import SandboxClient
from tasks.core.config import Config
from tasks.db.store import connect
from tasks.post.reads import ReadResult, read_enrollments
from tasks.post.sequencers.base import CHANGE_SCHEMA
from tasks.post.sequencers.hubspot import HubSpotSequencer
from tasks.post.sequencers.salesforce import SalesforceSequencer
from tasks.sync.hubspot.sync import sync_hubspot
from tasks.sync.limiter import RateLimiter

NOW = datetime(2026, 3, 2, 9, 0)
SEQUENCES = [
    {"id": "101", "name": "Enterprise outbound",
     "steps": [{"after_minutes": 60}, {"after_minutes": 1440}, {"after_minutes": 2880}]},
    {"id": "102", "name": "Webinar follow-up", "steps": [{"after_minutes": 30}]},
]
# sequence 101 as Salesforce serves it: an ActionCadence with an 18-character id
CADENCE_101 = "77C000000000101EAA"


def hubspot(config: Config, limit: int | None = None) -> HubSpotSequencer:
    """The HubSpot adapter on a limiter of its own (tests must not drain the shared one)."""
    assert config.hubspot is not None
    return HubSpotSequencer(config.hubspot, RateLimiter(limit=limit))


def salesforce(config: Config, limit: int | None = None) -> SalesforceSequencer:
    assert config.salesforce is not None
    return SalesforceSequencer(config.salesforce, RateLimiter(limit=limit))


def sync_contacts(db: Path, config: Config, now: datetime = NOW) -> None:
    """The cycle's sync of HubSpot contacts: their sequence properties say who is in a
    sequence."""
    sync_hubspot(db, config, now, objects=("contacts",))


def read_hubspot(db: Path, config: Config, now: datetime) -> ReadResult:
    """A cycle's read of HubSpot: sync the contacts, then read the enrollments."""
    sync_contacts(db, config, now)
    return read_enrollments(db, config, now, sequencer=hubspot(config))


def workflow_ran(sandbox: SandboxClient, now: datetime = NOW,
                 minutes: int = 5) -> datetime:
    """Move the sandbox clock past the unenroll workflow's lag (2 minutes by default) so
    the unenrolls written by `now` take effect; returns the new time."""
    later = now + timedelta(minutes=minutes)
    sandbox.set_clock(later)
    return later


def on_salesforce(config: Config) -> Config:
    return replace(config, sequencer="salesforce")


def hubspot_people(sandbox: SandboxClient, n: int, prefix: str = "p",
                   **properties: str) -> list[tuple[str, str]]:
    """n HubSpot contacts: [(id, email)]."""
    records = [{"properties": {"email": f"{prefix}{i}@example.com", **properties}}
               for i in range(n)]
    created = sandbox.upsert_hubspot("contacts", records)
    return [(r["id"], r["properties"]["email"]) for r in created]


def salesforce_people(sandbox: SandboxClient, n: int, prefix: str = "s",
                      **fields: Any) -> list[tuple[str, str]]:
    """n Salesforce Contacts: [(Id, email)]."""
    emails = [f"{prefix}{i}@example.com" for i in range(n)]
    results = sandbox.upsert_salesforce("Contact", [
        {"LastName": f"Person {i}", "Email": e, **fields} for i, e in enumerate(emails)])
    return [(r["id"], e) for r, e in zip(results, emails, strict=True)]


def add_changes(db: Path, kind: str, people: list[tuple[str, str]], *, crm: str = "hubspot",
                sequence_id: str | None = None, run_id: str = "run-1", prefix: str | None = None,
                sender: str | None = "rep@example.com", rule: str | None = "open_opportunity",
                created_at: datetime = NOW, status: str = "pending") -> list[str]:
    """Outbox rows as the decision step writes them (sequence 101 unless named);
    returns their change ids."""
    sequence_id = sequence_id or (CADENCE_101 if crm == "salesforce" else "101")
    prefix = prefix or f"{run_id}-{kind}"
    ids = [f"{prefix}-{i}" for i in range(len(people))]
    rows = pa.table({
        "change_id": ids,
        "run_id": [run_id] * len(ids),
        "created_at": pa.array([created_at] * len(ids), pa.timestamp("us")),
        "kind": [kind] * len(ids),
        "crm": [crm] * len(ids),
        "sequence_id": [sequence_id] * len(ids),
        "email": [email for _, email in people],
        "contact_id": [contact for contact, _ in people],
        "sender": [sender if kind == "enroll" else None] * len(ids),
        "rule": [rule if kind == "unenroll" else None] * len(ids),
        "reason": ["open deal: Acme renewal" if kind == "unenroll" else None] * len(ids),
        "actor": ["seqguard"] * len(ids),
        "status": [status] * len(ids),
    })
    with connect(db) as con:
        con.register("new_rows", rows)
        con.execute("insert into ops.outbox by name select * from new_rows")
    return ids


def outbox(db: Path) -> dict[str, dict[str, Any]]:
    """change_id -> the outbox row."""
    with connect(db) as con:
        cursor = con.execute("select * from ops.outbox order by change_id")
        names = [d[0] for d in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def statuses(db: Path) -> Counter[str]:
    return Counter(row["status"] for row in outbox(db).values())


def unenroll_writes(sandbox: SandboxClient) -> Counter[str]:
    """change id -> how many contact writes carried it (the sandbox's own event log)."""
    counts: Counter[str] = Counter()
    for event in sandbox.events():
        if event["object"] != "contacts" or event["action"] != "patch":
            continue
        reason = (json.loads(event["payload"]).get("properties") or {}).get(
            "seqguard_unenroll_reason")
        if reason:
            counts[reason.split(" ", 1)[0]] += 1
    return counts


def enrollment_counts(sandbox: SandboxClient, crm: str = "hubspot") -> Counter[tuple[str, str]]:
    """(contact id, sequence id) -> how many enrollments the sequencer holds."""
    return Counter((e["contact_id"], e["sequence_id"]) for e in sandbox.enrollments()
                   if e["crm"] == crm)


def successful_posts(sandbox: SandboxClient, path: str) -> int:
    return sum(1 for r in sandbox.requests()
               if r["method"] == "POST" and r["path"].split("?")[0] == path
               and r["status"] is not None and r["status"] < 300)


def changes(kind: str, people: list[tuple[str, str]], sequence_id: str = "101",
            sender: str | None = "rep@example.com", prefix: str = "c",
            start_step: int | None = None) -> pa.Table:
    """Changes as the poster hands them to an adapter (CHANGE_SCHEMA), one per person."""
    return pa.table({
        "change_id": [f"{prefix}{i}" for i in range(len(people))],
        "kind": [kind] * len(people),
        "sequence_id": [sequence_id] * len(people),
        "email": [e for _, e in people],
        "contact_id": [c for c, _ in people],
        "sender": [sender] * len(people),
        "reason": ["test"] * len(people),
        "start_step": [start_step] * len(people),
    }, schema=CHANGE_SCHEMA)
