"""Benchmark the CRM sync against a local sandbox; the last line printed is one JSON object.

    python bench/sync.py --contacts 1000000

Phases, each in a fresh child process so its peak RSS is its own:
  1. full HubSpot and full Salesforce sync (sandbox limits off): rows/s, peak RSS;
  2. 1% of contacts changed (both CRMs), clock moved: incremental sync vs the full one;
  3. the sandbox's HubSpot limit on (100 requests / 10 s) and ours at the same budget:
     a fresh full sync for a fixed time (default 60 s), the share of the budget it
     sustained and the 429s that were not retried;
  4. dlt's `rest_api` source loading the same HubSpot objects and properties from the
     same sandbox into DuckDB (the list endpoint, `after` cursor): rows/s, peak RSS.
     It runs last, being the slowest; the 1% change left the record counts as they were.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue as queue_module
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 3, 2, 9, 0, 0)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(target: Any, *args: Any, seconds: float | None = None) -> dict:
    """Run `target(*args)` in a spawned process; returns its result with its peak RSS.

    With `seconds`, a child still running then is stopped and {"stopped": True} returned.
    """
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(queue, target, args))
    process.start()
    try:
        result = queue.get(timeout=seconds)
    except queue_module.Empty:
        process.terminate()
        process.join()
        return {"stopped": True}
    process.join()
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def _child(queue: Any, target: Any, args: tuple) -> None:
    try:
        result = target(*args)
        result["peak_rss_mib"] = round(peak_rss_mib(), 1)
        queue.put(result)
    except Exception as exc:  # noqa: BLE001 - report it to the parent
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def run_sync(crm: str, db: str, url: str, cert: str, now: str, limit: int) -> dict:
    from dataclasses import replace

    from tasks.core.config import sandbox_config
    from tasks.sync.hubspot.sync import sync_hubspot
    from tasks.sync.salesforce.sync import sync_salesforce

    config = sandbox_config(url, cert)
    if crm == "hubspot":
        sync, config = sync_hubspot, replace(
            config, hubspot=replace(config.hubspot, rate_limit_per_10s=limit))
    else:
        sync, config = sync_salesforce, replace(
            config, salesforce=replace(config.salesforce, rate_limit_per_10s=limit))
    started = time.monotonic()
    result = sync(db, config, datetime.fromisoformat(now))
    seconds = time.monotonic() - started
    fetched = int(result.total("fetched"))
    return {"crm": crm, "full": result.full, "rows": fetched, "seconds": round(seconds, 2),
            "rows_per_s": round(fetched / seconds), "requests": int(result.total("requests")),
            "quarantined": int(result.total("quarantined"))}


def run_dlt(db: str, url: str, cert: str, work: str) -> dict:
    """dlt's rest_api source: the same objects and properties, list endpoint, into DuckDB."""
    os.environ["REQUESTS_CA_BUNDLE"] = cert  # dlt's requests session trusts the env
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    import dlt
    from dlt.sources.rest_api import rest_api_source

    from tasks.sync.hubspot import settings

    resources = [
        {"name": obj, "endpoint": {
            "path": f"crm/v3/objects/{obj}",
            "params": {"limit": settings.LIST_PAGE_SIZE, "archived": "false",
                       "properties": ",".join(settings.DEFAULT_PROPERTIES[obj])},
            "data_selector": "results",
            "paginator": {"type": "cursor", "cursor_path": "paging.next.after",
                          "cursor_param": "after"},
        }, "primary_key": "id", "write_disposition": "merge"}
        for obj in settings.OBJECTS
    ]
    source = rest_api_source({
        "client": {"base_url": url, "auth": {"type": "bearer", "token": "sandbox-token"}},
        "resources": resources,
    })
    pipeline = dlt.pipeline(pipeline_name="bench_hubspot", pipelines_dir=work,
                            destination=dlt.destinations.duckdb(db), dataset_name="hubspot")
    started = time.monotonic()
    pipeline.run(source)
    seconds = time.monotonic() - started
    import duckdb

    with duckdb.connect(db, read_only=True) as con:
        rows = sum(con.execute(f"select count(*) from hubspot.{obj}").fetchone()[0]
                   for obj in settings.OBJECTS)
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}


def change_one_percent(sandbox: Any, db: str, later: datetime) -> dict:
    """Change 1% of HubSpot and Salesforce contacts through the control API."""
    import duckdb

    with duckdb.connect(db, read_only=True) as con:
        hub = [r[0] for r in con.execute(
            "select id from raw_hubspot.contacts using sample 1 percent (bernoulli, 7)"
        ).fetchall()]
        sales = [r[0] for r in con.execute(
            "select Id from raw_salesforce.Contact using sample 1 percent (bernoulli, 7)"
        ).fetchall()]
    sandbox.set_clock(later)
    for start in range(0, len(hub), 5000):
        sandbox.upsert_hubspot("contacts", [{"id": i, "properties": {"firstname": "Bench"}}
                                            for i in hub[start:start + 5000]])
    for start in range(0, len(sales), 5000):
        sandbox.upsert_salesforce("Contact", [{"Id": i, "Title": "Bench"}
                                              for i in sales[start:start + 5000]])
    return {"hubspot_contacts_changed": len(hub), "salesforce_contacts_changed": len(sales)}


def rate_limited(sandbox: Any, work: Path, seconds: float) -> dict:
    """A full HubSpot sync (fresh database) for `seconds`, the sandbox's 100/10 s limit on
    and ours at the same budget: how much of the budget it used, and whether any 429
    went unretried (the sync would have stopped with an error)."""
    sandbox.faults(rate_limit_per_10s=100)
    time.sleep(11)  # an empty window to start from
    sandbox.clear_requests()
    try:
        run = in_child(run_sync, "hubspot", str(work / "limited.duckdb"), sandbox.url,
                       sandbox.cert, NOW.isoformat(), 100, seconds=seconds)
    finally:
        sandbox.faults()
    log = [e for e in sandbox.requests() if e["api"] == "hubspot"]
    ok = [e for e in log if e["status"] != 429]
    limited = [e for e in log if e["status"] == 429]
    # the budget: 100 per rolling 10 s, so at most 100 * seconds / 10 in the time box
    budget = 100 * seconds / 10
    return {"seconds": seconds, "requests_ok": len(ok), "responses_429": len(limited),
            "unretried_429": 0 if run.get("stopped") or run.get("rows") else "sync failed",
            "budget_used_pct": round(100 * len(ok) / budget, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--limited-seconds", type=float, default=60.0)
    parser.add_argument("--skip-dlt", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

    from sandbox.client import running_sandbox

    work = Path(tempfile.mkdtemp(prefix="seqguard-bench-"))
    report: dict[str, Any] = {"contacts": args.contacts}
    with running_sandbox(work / "sandbox", timeout=900) as sandbox:
        started = time.monotonic()
        report["sandbox_counts"] = sandbox.reset(seed=args.seed, contacts=args.contacts,
                                                 now=NOW.isoformat())["counts"]
        print(f"sandbox reset: {time.monotonic() - started:.1f} s", flush=True)
        db = str(work / "seqguard.duckdb")
        for crm in ("hubspot", "salesforce"):
            report[f"{crm}_full"] = in_child(run_sync, crm, db, sandbox.url, sandbox.cert,
                                             NOW.isoformat(), 0)
            print(crm, "full", report[f"{crm}_full"], flush=True)
        later = NOW + timedelta(hours=1)
        report["changed"] = change_one_percent(sandbox, db, later)
        for crm in ("hubspot", "salesforce"):
            inc = in_child(run_sync, crm, db, sandbox.url, sandbox.cert, later.isoformat(), 0)
            inc["pct_of_full_time"] = round(100 * inc["seconds"]
                                            / report[f"{crm}_full"]["seconds"], 1)
            report[f"{crm}_incremental"] = inc
            print(crm, "incremental", inc, flush=True)
        report["rate_limited"] = rate_limited(sandbox, work, args.limited_seconds)
        print("rate limited", report["rate_limited"], flush=True)
        if not args.skip_dlt:
            report["dlt_hubspot"] = in_child(run_dlt, str(work / "dlt.duckdb"), sandbox.url,
                                             sandbox.cert, str(work / "dlt"))
            print("dlt", report["dlt_hubspot"], flush=True)
            report["hubspot_vs_dlt"] = round(report["hubspot_full"]["rows_per_s"]
                                             / report["dlt_hubspot"]["rows_per_s"], 2)
    # seqguard's own peak (the dlt child's is reported with dlt)
    report["peak_rss_mib"] = max(v["peak_rss_mib"] for k, v in report.items()
                                 if isinstance(v, dict) and "peak_rss_mib" in v
                                 and not k.startswith("dlt"))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
