"""Idle cycle: nothing changed since the last cycle. Time the Prefect flow end to end
beside the same steps called without Prefect, on the same sandbox and database.

    python bench/idle.py --contacts 10000

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from sandbox.client import running_sandbox  # noqa: E402
from tasks.pipeline import run_cycle  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from prefect.testing.utilities import prefect_test_harness

    from flows.cycle import cycle

    work = Path(tempfile.mkdtemp(prefix="seqguard-idle-"))
    project = Path(__file__).resolve().parent.parent
    with running_sandbox(work / "sandbox", contacts=args.contacts,
                         enrollments=args.contacts // 20) as sandbox:
        from datetime import datetime

        now = datetime.fromisoformat(sandbox.clock().replace("Z", ""))
        sandbox.set_clock(now)
        db = str(work / "db.duckdb")
        started = time.monotonic()
        run_cycle(db, str(project), sandbox.url, sandbox.cert, now=now)  # the first, full one
        first = time.monotonic() - started
        plain, flow = [], []
        with prefect_test_harness(server_startup_timeout=120):
            for i in range(args.repeats):
                moment = now + timedelta(minutes=15 * (2 * i + 1))
                started = time.monotonic()
                run_cycle(db, str(project), sandbox.url, sandbox.cert, now=moment)
                plain.append(time.monotonic() - started)
                started = time.monotonic()
                cycle(now=moment + timedelta(minutes=15), db=db, project=str(project),
                      sandbox_url=sandbox.url, sandbox_cert=sandbox.cert)
                flow.append(time.monotonic() - started)
    figures = {"contacts": args.contacts, "first_cycle_s": round(first, 2),
               "idle_plain_s": round(min(plain), 2), "idle_flow_s": round(min(flow), 2),
               "idle_flow_overhead_s": round(min(flow) - min(plain), 2)}
    print(f"first cycle {first:.1f} s; idle cycle without Prefect {min(plain):.2f} s, "
          f"as a Prefect flow {min(flow):.2f} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
