"""The 15-minute cycle: sync -> model -> evaluate -> decide -> post -> report."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from prefect import flow

from tasks import steps

Crm = Literal["hubspot", "salesforce"]


@flow(name="seqguard-cycle", log_prints=True, validate_parameters=True)
def cycle(
    now: datetime | None = None,
    dry_run: bool = False,
    crms: list[Crm] | None = None,
    rules: list[str] | None = None,
    sequences: list[str] | None = None,
    full_resync: bool = False,
    db: str = "data/seqguard.duckdb",
    project: str = ".",
    sandbox_url: str | None = None,
    sandbox_cert: str | None = None,
) -> dict:
    """One full cycle at `now` (default: the clock); `dry_run` decides and reports but
    posts nothing; `crms`, `rules` and `sequences` narrow the run (default: all)."""
    target = steps.Target(
        db=db, project=project, sandbox_url=sandbox_url, sandbox_cert=sandbox_cert
    )
    run = steps.start_run(target, now, dry_run)
    synced = steps.sync_crms(target, run, crms, full_resync)
    modeled = steps.build_model(target, wait_for=[synced])
    evaluated = steps.evaluate_rules(target, run, rules, wait_for=[modeled])
    summary = {
        "run_id": run.run_id,
        "now": run.now.isoformat(),
        "dry_run": dry_run,
        "sync": synced,
        "model": modeled,
        "rules": evaluated,
    }
    steps.finish_run(target, run, summary)
    steps.report_run(summary)
    return summary
