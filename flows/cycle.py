"""The 15-minute cycle: sync -> model -> evaluate -> decide -> post -> report.

`cycle` is the Prefect flow users run; `run_cycle` runs the very same steps without
Prefect (each step's plain function, the lock's file part alone) for the soak and the
benchmarks, which run hundreds of cycles. The steps and their order are written once,
in `cycle_steps`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from prefect import flow
from prefect.client.schemas.objects import State

from tasks.steps import Run, Steps, Target

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
    return cycle_steps(Steps(prefect=True), Target(db, project, sandbox_url, sandbox_cert), now,
                       dry_run, crms, rules, sequences, full_resync, wait_for_approval,
                       allow_past_now)


def run_cycle(db: str, project: str, sandbox_url: str | None, sandbox_cert: str | None,
              now: datetime | None = None, dry_run: bool = False, **narrowed: Any) -> dict:
    """The cycle without Prefect: the flow's steps as plain functions, in its order. A
    tripped breaker leaves the run's unenrolls held (nobody waits in a UI)."""
    summary = cycle_steps(Steps(prefect=False), Target(db, project, sandbox_url, sandbox_cert),
                          now, dry_run, **narrowed)
    assert isinstance(summary, dict)
    return summary


def cycle_steps(steps: Steps, target: Target, now: datetime | None, dry_run: bool,
                crms: list[Crm] | None = None, rules: list[str] | None = None,
                sequences: list[str] | None = None, full_resync: bool = False,
                wait_for_approval: bool = False, allow_past_now: bool = False,
                ) -> dict | State:
    with steps.lock(target.db) as lock:
        if not lock.ours:  # skipped, not queued; fails loudly once held past two cycles
            return steps.skip(lock)
        run: Run = steps.start_run(target, now, dry_run, allow_past_now)
        summary: dict = {"run_id": run.run_id, "now": run.now.isoformat(), "dry_run": dry_run}
        steps.check_properties(target)
        summary["sync"] = {crm: steps.sync_crm(target, run, crm, full_resync)
                           for crm in target.crms(crms)}
        if activity := steps.read_sequencer_activity(target, run):
            summary["sync"][activity["crm"]] = activity
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
    return steps.final(summary)
