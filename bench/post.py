"""Posting throughput against the sandbox's rate limit, with nothing lost or doubled.

    python bench/post.py --changes 100000 [--kind unenroll|enroll]
                         [--crm hubspot|salesforce|apollo] [--rate-limit 100] [--window 10]
                         [--seed 1]

Writes `--changes` outbox rows for as many people, posts them with `post_pending` against a
sandbox that answers 429/403 past `--rate-limit` requests per 10 s, and checks the
sandbox's own records: every change arrived exactly once (HubSpot unenrolls: the contact
writes carrying each change id; enrolls: one enrollment per person; Apollo unenrolls: one
remove call naming each contact). Apollo's people are the CRM's contacts under Apollo's
own ids, its limit is `--rate-limit` per `--window` seconds (its documented minute, scaled
down), and an unenroll run first enrolls everyone, outside the measure. Throughput is the
posting phase's requests per second as a share of the limit. The last line is one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.client import SandboxClient, running_sandbox  # noqa: E402
from tasks.config import Config, sandbox_config  # noqa: E402
from tasks.crm.limiter import RateLimiter  # noqa: E402
from tasks.outbox import post_pending, read_enrollments  # noqa: E402
from tasks.sequencers.apollo import ApolloSequencer  # noqa: E402
from tasks.sequencers.base import CHANGE_SCHEMA, Sequencer  # noqa: E402
from tasks.sequencers.hubspot import HubSpotSequencer  # noqa: E402
from tasks.sequencers.salesforce import SalesforceSequencer  # noqa: E402
from tasks.store import connect  # noqa: E402

NOW = datetime(2026, 3, 2, 9, 0)
SEQUENCE = {"id": "101", "name": "Bench outbound", "steps": [{"after_minutes": 1440}]}
CADENCE = "77C000000000101EAA"  # the sequence as Salesforce serves it: an ActionCadence Id
CREATE_CHUNK = 20_000
REP = "avery.nguyen@seqguard-sandbox.test"  # a sandbox owner: an Apollo email account


def create_people(sandbox: SandboxClient, crm: str, n: int) -> pa.Table:
    """n contacts in the CRM: (contact_id, email)."""
    ids: list[str] = []
    emails: list[str] = []
    for start in range(0, n, CREATE_CHUNK):
        chunk = [f"bench{i}@example.com" for i in range(start, min(n, start + CREATE_CHUNK))]
        if crm in ("hubspot", "apollo"):
            created = sandbox.upsert_hubspot("contacts", [{"properties": {"email": e}}
                                                          for e in chunk])
        else:
            created = sandbox.upsert_salesforce("Contact", [{"LastName": "Bench", "Email": e}
                                                            for e in chunk])
        ids += [str(r["id"]) for r in created]
        emails += chunk
    return pa.table({"contact_id": ids, "email": emails})


def on_apollo(config: Config, people: pa.Table) -> tuple[pa.Table, str]:
    """The CRM's people under Apollo's ids, and the bench sequence's Apollo id (read with
    no limit, outside the measure)."""
    adapter = ApolloSequencer(config.sequencer_config("apollo"), RateLimiter(limit=None))
    found = adapter.people(people.select(["email"]))
    sequences = adapter.sequences().to_pylist()
    return (found.select(["contact_id", "email"]),
            next(r["sequence_id"] for r in sequences if r["name"] == SEQUENCE["name"]))


def enroll_all(config: Config, people: pa.Table, sequence_id: str) -> None:
    """Everyone in the sequence on Apollo first, so that the unenrolls remove someone."""
    adapter = ApolloSequencer(config.sequencer_config("apollo"), RateLimiter(limit=None))
    n = people.num_rows
    adapter.enroll(pa.table({
        "change_id": [f"setup-{i}" for i in range(n)], "kind": ["enroll"] * n,
        "sequence_id": [sequence_id] * n, "email": people.column("email"),
        "contact_id": people.column("contact_id"), "sender": [REP] * n,
        "reason": [None] * n, "start_step": pa.array([None] * n, pa.int64())},
        schema=CHANGE_SCHEMA))


def write_outbox(db: Path, crm: str, kind: str, people: pa.Table,
                 sequence_id: str | None = None) -> None:
    n = people.num_rows
    rows = pa.table({
        "change_id": [f"bench-{kind}-{i}" for i in range(n)],
        "run_id": ["bench"] * n,
        "created_at": pa.array([NOW] * n, pa.timestamp("us")),
        "kind": [kind] * n, "crm": [crm] * n,
        "sequence_id": [sequence_id or (CADENCE if crm == "salesforce" else SEQUENCE["id"])] * n,
        "email": people.column("email"), "contact_id": people.column("contact_id"),
        "sender": [(REP if crm == "apollo" else "rep@example.com") if kind == "enroll"
                   else None] * n,
        "rule": ["bench_rule" if kind == "unenroll" else None] * n,
        "reason": ["benchmark"] * n, "actor": ["seqguard"] * n, "status": ["pending"] * n,
    })
    with connect(db) as con:
        con.register("rows", rows)
        con.execute("insert into ops.outbox by name select * from rows")


def adapter_for(config: Config, crm: str, limit: int, window: float = 10.0) -> Sequencer:
    """The adapter on a limiter sized like the sandbox's limit (as production sizes it)."""
    limiter = RateLimiter(limit=limit, period=window)
    if crm == "apollo":
        return ApolloSequencer(config.sequencer_config("apollo"), limiter)
    if crm == "hubspot":
        assert config.hubspot is not None
        return HubSpotSequencer(config.hubspot, limiter)
    assert config.salesforce is not None
    return SalesforceSequencer(config.salesforce, limiter)


def arrivals(sandbox: SandboxClient, crm: str, kind: str) -> Counter[str]:
    """How often each change (HubSpot unenroll) or person (enroll) reached the sandbox."""
    counts: Counter[str] = Counter()
    if crm == "apollo":
        # enroll: enrollments per person (by email); unenroll: remove calls per contact
        if kind == "enroll":
            counts.update(e["email"] for e in sandbox.enrollments() if e["crm"] == crm)
        for request in sandbox.requests() if kind == "unenroll" else []:
            if "remove_or_stop_contact_ids" in request["path"] and request["status"] == 200:
                counts.update(parse_qs(urlsplit(request["path"]).query)["contact_ids[]"])
    elif kind == "unenroll" and crm == "hubspot":
        for event in sandbox.events():
            if event["object"] == "contacts" and event["action"] == "patch":
                props = json.loads(event["payload"]).get("properties") or {}
                reason = props.get("seqguard_unenroll_reason")
                if reason:
                    counts[reason.split(" ", 1)[0]] += 1
    else:
        for enrollment in sandbox.enrollments():
            if enrollment["crm"] == crm:
                counts[enrollment["contact_id"]] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--kind", choices=("unenroll", "enroll"), default="unenroll")
    parser.add_argument("--crm", choices=("hubspot", "salesforce", "apollo"),
                        default="hubspot")
    parser.add_argument("--rate-limit", type=int, default=100,
                        help="requests per window (10 s; apollo: --window)")
    parser.add_argument("--window", type=float, default=10.0,
                        help="apollo: seconds of the rate limit's window")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="seqguard-bench-post-"))
    db = work / "bench.duckdb"
    with running_sandbox(work / "sandbox") as sandbox:
        sandbox.reset(seed=args.seed, now=NOW)
        sandbox.define_sequences([SEQUENCE])
        started = time.monotonic()
        people = create_people(sandbox, args.crm, args.changes)
        config = sandbox_config(sandbox.url, sandbox.cert)
        sequence_id = None
        if args.crm == "apollo":
            people, sequence_id = on_apollo(config, people)
            if args.kind == "unenroll":
                enroll_all(config, people, sequence_id)
        write_outbox(db, args.crm, args.kind, people, sequence_id)
        setup_s = time.monotonic() - started
        print(f"setup: {args.changes} {args.crm} contacts and outbox rows in {setup_s:.1f} s",
              flush=True)

        if args.crm != "hubspot":
            from dataclasses import replace

            config = replace(config, sequencer=args.crm)
        window = args.window if args.crm == "apollo" else 10.0
        sandbox.faults(rate_limit_per_10s=args.rate_limit, rate_limits={
            "apollo": {"limit": args.rate_limit, "window_s": window}})
        sandbox.clear_requests()
        adapter = adapter_for(config, args.crm, args.rate_limit, window)
        done = {"n": 0, "at": time.monotonic()}

        def progress(kind: str, n: int) -> None:
            done["n"] += n
            if time.monotonic() - done["at"] > 10:
                done["at"] = time.monotonic()
                print(f"  {done['n']} posted, {time.monotonic() - started:.0f} s", flush=True)

        started = time.monotonic()
        result = post_pending(db, config, NOW, progress=progress, sequencer=adapter)
        post_s = time.monotonic() - started
        log = sandbox.requests()
        sandbox.faults()
        statuses = Counter(r["status"] for r in log)
        read_s = time.monotonic()
        read = read_enrollments(db, config, NOW, sequencer=adapter_for(config, args.crm, 10**6)) \
            if args.crm == "salesforce" else None
        read_s = time.monotonic() - read_s
        seen = arrivals(sandbox, args.crm, args.kind)
        if args.crm == "apollo":
            keys = people.column("email" if args.kind == "enroll" else "contact_id").to_pylist()
        else:
            keys = (people.column("contact_id").to_pylist() if args.kind == "enroll"
                    else [f"bench-{args.kind}-{i}" for i in range(args.changes)])
        with connect(db) as con:
            outcome = dict(con.execute(
                "select status, count(*) from ops.outbox group by all").fetchall())
    allowed_per_s = args.rate_limit / window
    figures: dict[str, Any] = {
        "bench": "post", "crm": args.crm, "kind": args.kind, "changes": args.changes,
        "rate_limit_per_10s": round(args.rate_limit * 10 / window, 2),
        "rate_limit": args.rate_limit, "window_s": window,
        "batch": adapter.batch_limit(args.kind),
        "post_seconds": round(post_s, 1), "requests": len(log),
        "requests_429_or_403": statuses.get(429, 0) + statuses.get(403, 0),
        "requests_per_s": round(len(log) / post_s, 2),
        "throughput_pct_of_limit": round(100 * len(log) / post_s / allowed_per_s, 1),
        "changes_per_s": round(args.changes / post_s, 1),
        "lost": sum(1 for k in keys if seen[k] == 0),
        "duplicate": sum(max(0, seen[k] - 1) for k in keys),
        "outbox": outcome, "pending_left": result.pending, "stopped": result.stopped,
        "read_seconds": round(read_s, 1) if read else None,
        "setup_seconds": round(setup_s, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
