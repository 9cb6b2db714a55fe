"""The 15-minute cycle: sync -> model -> evaluate -> decide -> post -> report."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from prefect import flow
from prefect.client.schemas.objects import State

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
) -> dict | State:
    """One full cycle: sync the CRMs, rebuild the model, run the rules, decide, post, report.

    Args:
        now: the cycle's time, ISO 8601 (default: the clock); rule windows and delays use it
        dry_run: decide and report, post nothing
        crms: sync only these CRMs (default: every configured one)
        rules: run only these rules, by name (default: every rule)
        sequences: post only changes to these sequences (ids or names); the rest wait
        full_resync: ignore the sync watermarks and pull every record again
        wait_for_approval: when the circuit breaker holds the run, pause for a decision in
            this run's form; off, the hold waits for `seqguard cycle --approve/--reject RUN`
        db: the DuckDB file of this account
        project: the folder holding sql/ (rules, lists, rulesets, plays) and seqguard.yml
        sandbox_url: the local sandbox's URL, instead of the CRMs in seqguard.yml
        sandbox_cert: the sandbox's certificate (default data/sandbox/cert.pem)
        allow_past_now: run at a `now` earlier than the last committed run's (refused
            otherwise: time does not go back by accident)
    """
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
        steps.report_run(target, summary)  # the approver reads who would go, before deciding
        summary["approval"] = steps.await_approval(
            target, run, summary["breaker"], wait_for_approval
        )
        if summary["approval"]["status"] == "approved":
            summary["post"] = steps.post_changes(target, run, sequences)
        steps.finish_run(target, run, summary)
    steps.report_run(target, summary)
    return steps.final_state(summary)
