"""Posting throughput against the sandbox's rate limit, with nothing lost or doubled.

    python bench/post.py --changes 100000 [--kind unenroll|enroll]
                         [--crm hubspot|salesforce|outreach|salesloft|apollo]
                         [--rate-limit N] [--window S] [--seed 1]

Writes `--changes` outbox rows for as many people, posts them with `post_pending` against a
sandbox that answers 429/403 past `--rate-limit` requests per `--window` seconds, and
checks the sandbox's own records: every change arrived exactly once (HubSpot unenrolls:
the contact writes carrying each change id; enrolls: one enrollment per person; the
sequencers with people of their own: bench/post_vendors.py). Throughput is the posting
phase's requests as a share of what the limit allows: per second for a 10 s window, over
the whole windows since the first request for a longer one (a window's budget may go out
at once; the run must last more than one window). The last line is one JSON object.

Defaults: HubSpot and Salesforce 100 per 10 s; Outreach its 10,000 per user per hour
scaled to 100 per 10 s (answered in its shape: 429, X-RateLimit-Reset); Salesloft 600 per
minute; Apollo 200 per minute.
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

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import post_vendors  # noqa: E402
from sandbox.client import SandboxClient, running_sandbox  # noqa: E402
from tasks.core.config import Config, sandbox_config  # noqa: E402
from tasks.db.store import connect  # noqa: E402
from tasks.post.poster import post_pending  # noqa: E402
from tasks.post.reads import read_enrollments  # noqa: E402
from tasks.post.sequencers.base import Sequencer  # noqa: E402
from tasks.post.sequencers.hubspot import HubSpotSequencer  # noqa: E402
from tasks.post.sequencers.salesforce import SalesforceSequencer  # noqa: E402
from tasks.sync.limiter import RateLimiter  # noqa: E402

NOW = datetime(2026, 3, 2, 9, 0)
SEQUENCE = {"id": "101", "name": "Bench outbound", "steps": [{"after_minutes": 1440}]}
CADENCE = "77C000000000101EAA"  # the sequence as Salesforce serves it: an ActionCadence Id
CREATE_CHUNK = 20_000
SENDER = "rep@example.com"


def create_people(sandbox: SandboxClient, crm: str, n: int) -> pa.Table:
    """n contacts in the CRM (a sequencer of its own: in HubSpot): (contact_id, email)."""
    ids: list[str] = []
    emails: list[str] = []
    for start in range(0, n, CREATE_CHUNK):
        chunk = [f"bench{i}@example.com" for i in range(start, min(n, start + CREATE_CHUNK))]
        if crm != "salesforce":
            created = sandbox.upsert_hubspot("contacts", [{"properties": {"email": e}}
                                                          for e in chunk])
        else:
            created = sandbox.upsert_salesforce("Contact", [{"LastName": "Bench", "Email": e}
                                                            for e in chunk])
        ids += [str(r["id"]) for r in created]
        emails += chunk
    return pa.table({"contact_id": ids, "email": emails})


def windowed_share(log: list[dict], window_s: float, limit: int) -> float | None:
    """Requests in the whole windows since the first request, per the number those
    windows allow, in percent (None when the run is shorter than one window)."""
    times = sorted(datetime.fromisoformat(r["wall_time"].rstrip("Z")).timestamp() for r in log)
    windows = int((times[-1] - times[0]) // window_s) if times else 0
    if not windows:
        return None
    end = times[0] + windows * window_s
    return 100 * sum(1 for t in times if t < end) / (windows * limit)


def write_outbox(db: Path, crm: str, kind: str, people: pa.Table, sequence_id: str) -> None:
    n = people.num_rows
    rows = pa.table({
        "change_id": [f"bench-{kind}-{i}" for i in range(n)],
        "run_id": ["bench"] * n,
        "created_at": pa.array([NOW] * n, pa.timestamp("us")),
        "kind": [kind] * n, "crm": [crm] * n,
        "sequence_id": [sequence_id] * n,
        "email": people.column("email"), "contact_id": people.column("contact_id"),
        "sender": [(post_vendors.REP if crm in post_vendors.VENDORS else SENDER)
                   if kind == "enroll" else None] * n,
        "rule": ["bench_rule" if kind == "unenroll" else None] * n,
        "reason": ["benchmark"] * n, "actor": ["seqguard"] * n, "status": ["pending"] * n,
    })
    with connect(db) as con:
        con.register("rows", rows)
        con.execute("insert into ops.outbox by name select * from rows")


def adapter_for(config: Config, crm: str, limit: int | None, window_s: float) -> Sequencer:
    """The adapter on a limiter sized like the sandbox's limit (as production sizes it)."""
    limiter = RateLimiter(limit=limit, period=window_s)
    if crm in post_vendors.VENDORS:
        return post_vendors.adapter(config, crm, limiter)
    if crm == "hubspot":
        assert config.hubspot is not None
        return HubSpotSequencer(config.hubspot, limiter)
    assert config.salesforce is not None
    return SalesforceSequencer(config.salesforce, limiter)


def arrivals(sandbox: SandboxClient, crm: str, kind: str) -> Counter[str]:
    """How often each change (HubSpot unenroll) or person (enroll) reached the sandbox."""
    counts: Counter[str] = Counter()
    if kind == "unenroll" and crm in post_vendors.VENDORS:
        return post_vendors.unenroll_arrivals(sandbox, crm)
    if kind == "enroll" and crm in post_vendors.VENDORS:
        counts.update(e["email"] for e in sandbox.enrollments() if e["crm"] == crm)
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
    parser.add_argument("--crm", choices=("hubspot", "salesforce", *post_vendors.VENDORS),
                        default="hubspot")
    parser.add_argument("--rate-limit", type=int, default=None,
                        help="requests per window (default: the sequencer's, above)")
    parser.add_argument("--window", type=float, default=None,
                        help="seconds of the limit's window (default 10; Salesloft, Apollo 60)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    vendor = post_vendors.VENDORS.get(args.crm)
    limit = args.rate_limit or (vendor.limit if vendor else 100)
    window_s = args.window or (vendor.window_s if vendor else 10.0)
    work = Path(tempfile.mkdtemp(prefix="seqguard-bench-post-"))
    db = work / "bench.duckdb"
    with running_sandbox(work / "sandbox") as sandbox:
        sandbox.reset(seed=args.seed, now=NOW)
        sandbox.define_sequences([SEQUENCE])
        started = time.monotonic()
        people = create_people(sandbox, args.crm, args.changes)
        config = sandbox_config(sandbox.url, sandbox.cert)
        if args.crm != "hubspot":
            from dataclasses import replace

            config = replace(config, sequencer=args.crm)
        sequence_id = CADENCE if args.crm == "salesforce" else SEQUENCE["id"]
        if vendor:
            people, sequence_id = post_vendors.setup(config, args.crm, people,
                                                     SEQUENCE["name"], args.kind)
        write_outbox(db, args.crm, args.kind, people, sequence_id)
        setup_s = time.monotonic() - started
        print(f"setup: {args.changes} {args.crm} contacts and outbox rows in {setup_s:.1f} s",
              flush=True)

        # a sequencer of its own answers past its own limit, in its own shape; the CRMs past
        # the shared one
        sandbox.faults(**({"rate_limits": {args.crm: {"limit": limit, "window_s": window_s}}}
                          if vendor else {"rate_limit_per_10s": limit}))
        sandbox.clear_requests()
        adapter = adapter_for(config, args.crm, limit, window_s)
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
        read = read_enrollments(db, config, NOW,
                                sequencer=adapter_for(config, args.crm, None, window_s)) \
            if args.crm != "hubspot" else None
        read_s = time.monotonic() - read_s
        seen = arrivals(sandbox, args.crm, args.kind)
        keys = (people.column("email" if vendor and args.kind == "enroll"
                              else "contact_id").to_pylist()
                if args.kind == "enroll" or vendor
                else [f"bench-{args.kind}-{i}" for i in range(args.changes)])
        with connect(db) as con:
            outcome = dict(con.execute(
                "select status, count(*) from ops.outbox group by all").fetchall())
    share = (windowed_share(log, window_s, limit) if window_s > 10
             else 100 * len(log) / post_s / (limit / window_s))
    figures: dict[str, Any] = {
        "bench": "post", "crm": args.crm, "kind": args.kind, "changes": args.changes,
        "rate_limit": limit, "window_s": window_s, "batch": adapter.batch_limit(args.kind),
        "post_seconds": round(post_s, 1), "requests": len(log),
        "requests_429_or_403": statuses.get(429, 0) + statuses.get(403, 0),
        "requests_per_s": round(len(log) / post_s, 2),
        "throughput_pct_of_limit": round(share, 1) if share is not None else None,
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
