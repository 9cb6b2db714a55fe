"""Idle cycle: nothing changed since the last cycle. Count the HubSpot requests it makes,
by endpoint (from the sandbox's `/_sandbox/requests`), and time the Prefect flow end to
end beside the same steps called without Prefect, on the same sandbox and database.

    python bench/idle.py --contacts 20000 --enrollments 2000 [--repeats 0]

Target (issue 18): an idle cycle at 20,000 contacts with 2,000 open HubSpot enrollments
makes at most 50 HubSpot requests. `--repeats 0` skips the Prefect comparison.
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from flows.cycle import run_cycle  # noqa: E402
from sandbox.client import SandboxClient, running_sandbox  # noqa: E402

REQUEST_TARGET = 50
# path segments that are record ids or names, folded so the table counts endpoints
ID_SEGMENT = re.compile(r"/(\d+|seqguard_[a-z_]+|hs_[a-z_]+)(?=/|$)")


def endpoint(method: str, path: str) -> str:
    """`GET /automation/v4/sequences/enrollments/contact/{id}` from a logged request."""
    return f"{method} {ID_SEGMENT.sub('/{id}', path.split('?', 1)[0])}"


def hubspot_requests(sandbox: SandboxClient, since: int) -> Counter:
    """HubSpot API calls the sandbox logged from index `since` on, by endpoint."""
    return Counter(endpoint(r["method"], r["path"]) for r in sandbox.requests(since)
                   if r["api"] == "hubspot")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--enrollments", type=int,
                        help="open HubSpot enrollments at the start (default contacts / 10)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="idle cycles timed with and without Prefect (0: none)")
    args = parser.parse_args()
    enrollments = args.enrollments if args.enrollments is not None else args.contacts // 10

    work = Path(tempfile.mkdtemp(prefix="seqguard-idle-"))
    project = str(Path(__file__).resolve().parent.parent)
    with running_sandbox(work / "sandbox", contacts=args.contacts,
                         enrollments=enrollments) as sandbox:
        now = datetime.fromisoformat(sandbox.clock().replace("Z", ""))
        sandbox.set_clock(now)
        db = str(work / "db.duckdb")
        started = time.monotonic()
        run_cycle(db, project, sandbox.url, sandbox.cert, now=now)  # the first, full one
        first = time.monotonic() - started
        # a second cycle reads back what the first one posted; the third is idle
        run_cycle(db, project, sandbox.url, sandbox.cert, now=now + timedelta(minutes=15))
        since = len(sandbox.requests())
        started = time.monotonic()
        summary = run_cycle(db, project, sandbox.url, sandbox.cert,
                            now=now + timedelta(minutes=30))
        idle = time.monotonic() - started
        by_endpoint = hubspot_requests(sandbox, since)
        open_enrollments = sum(1 for e in sandbox.enrollments()
                               if e["crm"] == "hubspot" and e["state"] in ("active", "paused"))
        plain, flow = time_with_prefect(db, project, sandbox, now + timedelta(minutes=45),
                                        args.repeats)
    total = sum(by_endpoint.values())
    for name, count in sorted(by_endpoint.items(), key=lambda item: (-item[1], item[0])):
        print(f"{count:6d}  {name}")
    print(f"idle cycle at {args.contacts:,} contacts, {open_enrollments:,} open HubSpot "
          f"enrollments: {total} HubSpot requests (target <= {REQUEST_TARGET}), {idle:.1f} s; "
          f"unverified unenrolls {summary['enrollments'].get('unverified_total')}")
    figures = {"contacts": args.contacts, "open_hubspot_enrollments": open_enrollments,
               "first_cycle_s": round(first, 2), "idle_cycle_s": round(idle, 2),
               "hubspot_requests": total, "request_target": REQUEST_TARGET,
               "target_met": total <= REQUEST_TARGET,
               "requests_by_endpoint": dict(sorted(by_endpoint.items()))}
    if plain:
        figures |= {"idle_plain_s": round(min(plain), 2), "idle_flow_s": round(min(flow), 2),
                    "idle_flow_overhead_s": round(min(flow) - min(plain), 2)}
        print(f"idle cycle without Prefect {min(plain):.2f} s, as a Prefect flow "
              f"{min(flow):.2f} s")
    print(json.dumps(figures))


def time_with_prefect(db: str, project: str, sandbox: SandboxClient, start: datetime,
                      repeats: int) -> tuple[list[float], list[float]]:
    """Idle cycles timed alternately without and with Prefect (the flow's overhead)."""
    if repeats <= 0:
        return [], []
    from prefect.testing.utilities import prefect_test_harness

    from flows.cycle import cycle

    plain, flow = [], []
    with prefect_test_harness(server_startup_timeout=120):
        for i in range(repeats):
            moment = start + timedelta(minutes=30 * i)
            started = time.monotonic()
            run_cycle(db, project, sandbox.url, sandbox.cert, now=moment)
            plain.append(time.monotonic() - started)
            started = time.monotonic()
            cycle(now=moment + timedelta(minutes=15), db=db, project=project,
                  sandbox_url=sandbox.url, sandbox_cert=sandbox.cert)
            flow.append(time.monotonic() - started)
    return plain, flow


if __name__ == "__main__":
    main()
