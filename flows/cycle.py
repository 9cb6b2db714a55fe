"""The 15-minute cycle: sync -> model -> evaluate -> decide -> post -> report."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from prefect import flow

from tasks import steps
from tasks.run import lock as cycle_lock

Crm = Literal["hubspot", "salesforce"]


@flow(name="seqguard-cycle", log_prints=True, validate_parameters=True)
def cycle(
    now: datetime | None = None,
    dry_run: bool = False,
    crms: list[Crm] | None = None,
    rules: list[str] | None = None,
    sequences: list[str] | None = None,
    full_resync: bool = False,
    wait_for_approval: bool = False,
    db: str = "data/seqguard.duckdb",
    project: str = ".",
    sandbox_url: str | None = None,
    sandbox_cert: str | None = None,
    allow_past_now: bool = False,
) -> dict:
    """One full cycle at `now` (default: the clock). `dry_run` decides and reports but
    posts nothing; `crms` and `rules` narrow the run; `sequences` posts only changes to
    those sequences (ids or names; the rest wait for the next run); `wait_for_approval` pauses a run
    that trips the circuit breaker until someone approves it in the UI; `allow_past_now`
    runs at a `now` earlier than the last committed run's (refused otherwise)."""
    target = steps.Target(
        db=db, project=project, sandbox_url=sandbox_url, sandbox_cert=sandbox_cert
    )
    with cycle_lock.held(db) as lock:
        if not lock.ours:  # skipped, not queued; fails loudly once held past two cycles
            return steps.skip_run(lock)
        run = steps.start_run(target, now, dry_run, allow_past_now)
        summary: dict = {"run_id": run.run_id, "now": run.now.isoformat(), "dry_run": dry_run}
        summary["sync"] = steps.sync_crms(target, run, crms, full_resync)
        summary["model"] = steps.build_model(target)
        summary["enrollments"] = steps.read_enrollments(target, run)
        summary["rules"] = steps.evaluate_rules(target, run, rules)
        summary["plays"] = steps.queue_plays(target, run)
        summary["decide"] = steps.decide_changes(target, run)
        summary["breaker"] = steps.check_breaker(target, run)
        summary["post"] = steps.post_changes(target, run, sequences)  # held rows stay
        steps.finish_run(target, run, summary)
    # the approval wait does not hold the lock: later cycles go on meanwhile
    if summary["breaker"]["tripped"]:
        summary["approval"] = steps.await_approval(
            target, run, summary["breaker"], wait_for_approval
        )
        if summary["approval"]["status"] == "approved":
            summary["post"] = steps.post_changes(target, run, sequences)
        steps.finish_run(target, run, summary)
    steps.report_run(target, summary)
    return summary
