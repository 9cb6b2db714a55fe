"""Posting throughput against the sandbox's rate limit, with nothing lost or doubled.

    python bench/post.py --changes 100000 [--kind unenroll|enroll]
                         [--crm hubspot|salesforce|salesloft] [--rate-limit 100] [--seed 1]

Writes `--changes` outbox rows for as many people, posts them with `post_pending` against a
sandbox that answers 429/403 past `--rate-limit` requests per 10 s, and checks the
sandbox's own records: every change arrived exactly once (HubSpot unenrolls: the contact
writes carrying each change id; enrolls: one enrollment per person). Throughput is the
posting phase's requests per second as a share of the limit. The last line is one JSON
object.

Salesloft's limit is per minute (default the documented 600): the sandbox and the
adapter's limiter both count 60 s windows, so a window's budget may go out at once; its
throughput is the requests in the whole windows since the first request, as a share of
what those windows allow (the run must last more than one minute). Its people are the
CRM contacts' Salesloft people, looked up by email; an unenroll run first adds them all to
the cadence (unlimited, not measured), and each membership must be removed by exactly one
DELETE.
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

from sandbox.client import SandboxClient, running_sandbox  # noqa: E402
from tasks.config import Config, sandbox_config  # noqa: E402
from tasks.crm.limiter import RateLimiter  # noqa: E402
from tasks.outbox import post_pending, read_enrollments  # noqa: E402
from tasks.sequencers.base import Sequencer  # noqa: E402
from tasks.sequencers.hubspot import HubSpotSequencer  # noqa: E402
from tasks.sequencers.salesforce import SalesforceSequencer  # noqa: E402
from tasks.sequencers.salesloft import SalesloftSequencer  # noqa: E402
from tasks.store import connect  # noqa: E402

NOW = datetime(2026, 3, 2, 9, 0)
SEQUENCE = {"id": "101", "name": "Bench outbound", "steps": [{"after_minutes": 1440}]}
CADENCE = "77C000000000101EAA"  # the sequence as Salesforce serves it: an ActionCadence Id
CREATE_CHUNK = 20_000
SALESLOFT_REP = "avery.nguyen@seqguard-sandbox.test"  # a seeded owner: a Salesloft user
SALESLOFT_WINDOW_S = 60


def create_people(sandbox: SandboxClient, crm: str, n: int) -> pa.Table:
    """n contacts in the CRM: (contact_id, email)."""
    ids: list[str] = []
    emails: list[str] = []
    for start in range(0, n, CREATE_CHUNK):
        chunk = [f"bench{i}@example.com" for i in range(start, min(n, start + CREATE_CHUNK))]
        if crm == "hubspot":
            created = sandbox.upsert_hubspot("contacts", [{"properties": {"email": e}}
                                                          for e in chunk])
        else:
            created = sandbox.upsert_salesforce("Contact", [{"LastName": "Bench", "Email": e}
                                                            for e in chunk])
        ids += [str(r["id"]) for r in created]
        emails += chunk
    return pa.table({"contact_id": ids, "email": emails})


def salesloft_people(sandbox: SandboxClient, config: Config, n: int) -> pa.Table:
    """n CRM contacts, as Salesloft's people of the same emails: (contact_id, email)."""
    emails = create_people(sandbox, "hubspot", n).select(["email"])
    found = SalesloftSequencer(config.sequencer_config("salesloft"),
                               RateLimiter(limit=None)).people(emails)
    assert found.num_rows == n, f"{n - found.num_rows} emails have no Salesloft person"
    return found.select(["contact_id", "email"])


def salesloft_unenroll_arrivals(sandbox: SandboxClient) -> Counter[str]:
    """Person -> how many DELETEs of their membership were answered 204 (a membership's
    id is its first enrollment's, and each person has one)."""
    person_of = {str(e["id"]): e["contact_id"] for e in sandbox.enrollments()
                 if e["crm"] == "salesloft"}
    counts: Counter[str] = Counter({person: 0 for person in person_of.values()})
    for request in sandbox.requests():
        path = request["path"].split("?")[0]
        if request["method"] == "DELETE" and request["status"] == 204:
            counts[person_of[path.rsplit("/", 1)[-1].removesuffix(".json")]] += 1
    return counts


def windowed_share(log: list[dict], window_s: float, limit: int) -> float | None:
    """Requests in the whole windows since the first request, per the number those
    windows allow, in percent (None when the run is shorter than one window)."""
    times = sorted(datetime.fromisoformat(r["wall_time"].rstrip("Z")).timestamp() for r in log)
    windows = int((times[-1] - times[0]) // window_s) if times else 0
    if not windows:
        return None
    end = times[0] + windows * window_s
    return 100 * sum(1 for t in times if t < end) / (windows * limit)


def write_outbox(db: Path, crm: str, kind: str, people: pa.Table,
                 run_id: str = "bench") -> None:
    n = people.num_rows
    rows = pa.table({
        "change_id": [f"{run_id}-{kind}-{i}" for i in range(n)],
        "run_id": [run_id] * n,
        "created_at": pa.array([NOW] * n, pa.timestamp("us")),
        "kind": [kind] * n, "crm": [crm] * n,
        "sequence_id": [CADENCE if crm == "salesforce" else SEQUENCE["id"]] * n,
        "email": people.column("email"), "contact_id": people.column("contact_id"),
        "sender": [(SALESLOFT_REP if crm == "salesloft" else "rep@example.com")
                   if kind == "enroll" else None] * n,
        "rule": ["bench_rule" if kind == "unenroll" else None] * n,
        "reason": ["benchmark"] * n, "actor": ["seqguard"] * n, "status": ["pending"] * n,
    })
    with connect(db) as con:
        con.register("rows", rows)
        con.execute("insert into ops.outbox by name select * from rows")


def adapter_for(config: Config, crm: str, limit: int) -> Sequencer:
    """The adapter on a limiter sized like the sandbox's limit (as production sizes it)."""
    if crm == "salesloft":
        return SalesloftSequencer(config.sequencer_config("salesloft"),
                                  RateLimiter(limit=limit, period=SALESLOFT_WINDOW_S))
    limiter = RateLimiter(limit=limit)
    if crm == "hubspot":
        assert config.hubspot is not None
        return HubSpotSequencer(config.hubspot, limiter)
    assert config.salesforce is not None
    return SalesforceSequencer(config.salesforce, limiter)


def arrivals(sandbox: SandboxClient, crm: str, kind: str) -> Counter[str]:
    """How often each change (HubSpot unenroll) or person (enroll) reached the sandbox."""
    counts: Counter[str] = Counter()
    if kind == "unenroll" and crm == "salesloft":
        return salesloft_unenroll_arrivals(sandbox)
    if kind == "unenroll" and crm == "hubspot":
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
    parser.add_argument("--crm", choices=("hubspot", "salesforce", "salesloft"),
                        default="hubspot")
    parser.add_argument("--rate-limit", type=int, default=None,
                        help="requests per 10 s (Salesloft: per minute, default 600)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    window_s = SALESLOFT_WINDOW_S if args.crm == "salesloft" else 10
    if args.rate_limit is None:
        args.rate_limit = 600 if args.crm == "salesloft" else 100
    work = Path(tempfile.mkdtemp(prefix="seqguard-bench-post-"))
    db = work / "bench.duckdb"
    with running_sandbox(work / "sandbox") as sandbox:
        sandbox.reset(seed=args.seed, now=NOW)
        sandbox.define_sequences([SEQUENCE])
        started = time.monotonic()
        config = sandbox_config(sandbox.url, sandbox.cert)
        if args.crm == "salesloft":
            people = salesloft_people(sandbox, config, args.changes)
            if args.kind == "unenroll":  # on the cadence first, unmeasured
                write_outbox(db, args.crm, "enroll", people, run_id="setup")
                post_pending(db, config, NOW, run_id="setup",
                             sequencer=adapter_for(config, args.crm, 10**6))
        else:
            people = create_people(sandbox, args.crm, args.changes)
        write_outbox(db, args.crm, args.kind, people)
        setup_s = time.monotonic() - started
        print(f"setup: {args.changes} {args.crm} contacts and outbox rows in {setup_s:.1f} s",
              flush=True)

        if args.crm in ("salesforce", "salesloft"):
            from dataclasses import replace

            config = replace(config, sequencer=args.crm)
        if args.crm == "salesloft":
            sandbox.faults(rate_limits={"salesloft": {"limit": args.rate_limit,
                                                      "window_s": window_s}})
        else:
            sandbox.faults(rate_limit_per_10s=args.rate_limit)
        sandbox.clear_requests()
        adapter = adapter_for(config, args.crm, args.rate_limit)
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
        keys = (people.column("contact_id").to_pylist()
                if args.kind == "enroll" or args.crm == "salesloft"
                else [f"bench-{args.kind}-{i}" for i in range(args.changes)])
        with connect(db) as con:
            outcome = dict(con.execute(
                "select status, count(*) from ops.outbox group by all").fetchall())
    allowed_per_s = args.rate_limit / window_s
    share = windowed_share(log, window_s, args.rate_limit) if args.crm == "salesloft" else None
    figures: dict[str, Any] = {
        "bench": "post", "crm": args.crm, "kind": args.kind, "changes": args.changes,
        "rate_limit_per_10s": args.rate_limit if window_s == 10 else None,
        **({"rate_limit": args.rate_limit, "window_s": window_s} if window_s != 10 else {}),
        "batch": adapter.batch_limit(args.kind),
        "post_seconds": round(post_s, 1), "requests": len(log),
        "requests_429_or_403": statuses.get(429, 0) + statuses.get(403, 0),
        "requests_per_s": round(len(log) / post_s, 2),
        "throughput_pct_of_limit": round(share if share is not None
                                         else 100 * len(log) / post_s / allowed_per_s, 1),
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
