"""The cycle's steps as Prefect tasks: each resolves its inputs and calls plain functions.

Tasks take paths and ids (a `Target`), not connections or clients, so Prefect can show
and hash their inputs; credentials are resolved inside the task that needs them.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.client.schemas.objects import State
from prefect.context import get_run_context
from prefect.states import Completed

from tasks import cycle_lock, report, runs
from tasks.core.clock import naive_utc, utcnow
from tasks.core.config import Config, resolve_config
from tasks.core.errors import ConfigError


@dataclass(frozen=True)
class Target:
    """Where a run reads and writes: the database, the project folder, the CRMs."""

    db: str
    project: str
    sandbox_url: str | None = None
    sandbox_cert: str | None = None

    def config(self) -> Config:
        return resolve_config(self.project, self.sandbox_url, self.sandbox_cert)


@dataclass(frozen=True)
class Run:
    run_id: str
    now: datetime
    dry_run: bool


def recoverable(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a step unless a setting or credential is wrong: a rejected token stays
    rejected, and each retry would only make the run wait (10 s, then 30 s) to fail."""
    try:
        state.result()
    except ConfigError:
        return False
    except Exception:  # noqa: BLE001 - anything else may be passing (network, 5xx)
        return True
    return True


def as_dict(result: Any) -> Any:
    """Step results as plain data for the summary and the report."""
    if hasattr(result, "as_dict"):
        return result.as_dict()
    if is_dataclass(result) and not isinstance(result, type):
        return asdict(result)
    return result


def current_run_id() -> str:
    """The Prefect flow run id when inside a flow, else a fresh id."""
    try:
        context = get_run_context()
        flow_run = getattr(context, "flow_run", None) or getattr(
            context.task_run, "flow_run_id", None
        )
        if flow_run is not None:
            return str(getattr(flow_run, "id", flow_run))
    except RuntimeError:
        pass
    return str(uuid.uuid4())


def skip_run(lock: cycle_lock.Lock) -> State:
    """A run that found its database's lock taken: a Completed state named Skipped that
    says why, or, once the lock has been held past two cycles, CycleLockHeld (Failed)."""
    assert lock.other is not None
    other, now = lock.other, datetime.now(UTC)
    minutes = int(other.held_for(now).total_seconds() // 60)
    since = f"{other.since.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if cycle_lock.must_fail(other, now):
        raise cycle_lock.CycleLockHeld(
            f"the cycle lock of {lock.db} has been held by {other.holder} for {minutes} min "
            f"(since {since}; skip {other.skips} in a row): no rule has been applied since. "
            "If that run is hung, cancel it; a dead holder's lease expires within a "
            f"minute, and a lock that outlives it is cleared with `prefect gcl update "
            f"{lock.name} --active-slots 0`")
    reason = (
        f"skipped: another seqguard cycle holds the cycle lock of {lock.db} "
        f"({other.holder}, since {since}, {minutes} min; skip {other.skips} in a row); "
        "runs are skipped, not queued, and the next scheduled one will run"
    )
    print(reason)
    summary = {"skipped": reason, "db": lock.db, "lock": lock.name, "held_by": other.holder,
               "held_since": other.since.isoformat(), "skips": other.skips,
               "now": now.isoformat()}
    return Completed(name="Skipped", message=reason, data=summary)


@task(name="start-run")
def start_run(target: Target, now: datetime | None, dry_run: bool,
              allow_past_now: bool = False) -> Run:
    """Fix the cycle's time (never before the last committed run's, unless a dry run or
    `allow_past_now`) and record the run."""
    cycle_time = naive_utc(now) if now else utcnow()
    run = Run(run_id=current_run_id(), now=cycle_time, dry_run=dry_run)
    runs.check_time(target.db, run.run_id, run.now, dry_run, allow_past_now)
    runs.record_start(target.db, run.run_id, run.now, dry_run)
    return run


@task(name="sync-crms", retries=2, retry_delay_seconds=[10, 30],
      retry_condition_fn=recoverable)
def sync_crms(target: Target, run: Run, crms: list[str] | None, full_resync: bool) -> dict:
    """Pull what changed in each configured CRM (and a sequencer of its own's activity)
    into the raw snapshot tables."""
    from tasks.post.own_people import read_activity
    from tasks.sync.hubspot.sync import sync_hubspot
    from tasks.sync.salesforce.sync import sync_salesforce

    config = target.config()
    wanted = set(crms or ["hubspot", "salesforce"])
    results: dict[str, Any] = {}
    if config.hubspot and "hubspot" in wanted:
        results["hubspot"] = as_dict(
            sync_hubspot(
                target.db,
                config,
                run.now,
                full_resync=full_resync,
                progress=report.sync_progress("hubspot"),
            )
        )
    if config.salesforce and "salesforce" in wanted:
        results["salesforce"] = as_dict(
            sync_salesforce(
                target.db,
                config,
                run.now,
                full_resync=full_resync,
                progress=report.sync_progress("salesforce"),
            )
        )
    # a sequencer of its own: the replies, bounces and unsubscribes it saw, before the model
    activity = read_activity(target.db, config, run.now)
    if activity:
        results[activity.crm] = as_dict(activity)
    return results


@task(name="build-model")
def build_model(target: Target) -> dict:
    """Rebuild the crm.* tables from the raw snapshots."""
    from tasks.model import build_model as rebuild

    return as_dict(rebuild(target.db, target.project, target.config()))


@task(name="read-enrollments", retries=2, retry_delay_seconds=[10, 30],
      retry_condition_fn=recoverable)
def read_enrollments(target: Target, run: Run) -> dict:
    """Refresh ops.enrollments from the sequencer; confirm unenrolls now visible."""
    from tasks.post.reads import read_enrollments as read

    return as_dict(read(target.db, target.config(), run.now))


@task(name="evaluate-rules")
def evaluate_rules(target: Target, run: Run, rules: list[str] | None) -> dict:
    """Run every effective (and pending) rule; matches land in rules.matches."""
    from tasks.rules.evaluate import evaluate_rules as evaluate

    config = target.config()
    return as_dict(
        evaluate(
            target.db,
            target.project,
            run.run_id,
            run.now,
            config.propagation_delay,
            only=rules,
            rule_timeout=config.rule_timeout,
        )
    )


@task(name="queue-plays")
def queue_plays(target: Target, run: Run) -> dict:
    """Run the play audiences and queue new people with their release time."""
    from tasks.decide.plays import queue_plays as queue

    config = target.config()
    return as_dict(queue(target.db, target.project, run.now, sequencer=config.sequencer,
                         rule_timeout=config.rule_timeout))


@task(name="decide-changes")
def decide_changes(target: Target, run: Run) -> dict:
    """Unenroll, block, skip and enroll as sets; outbox rows in the same transaction."""
    from tasks.decide.decide import decide

    return as_dict(
        decide(
            target.db,
            target.project,
            run.run_id,
            run.now,
            sequencer=target.config().sequencer,
            dry_run=run.dry_run,
        )
    )


@task(name="check-breaker")
def check_breaker(target: Target, run: Run) -> dict:
    """Hold the run's unenrolls when they pass the threshold (they wait for approval)."""
    from tasks.post import breaker

    verdict = breaker.check(target.db, run.run_id, target.config())
    if verdict.tripped:
        breaker.hold(target.db, run.run_id)
    return as_dict(verdict)


@task(name="post-changes", retries=2, retry_delay_seconds=[10, 30],
      retry_condition_fn=recoverable)
def post_changes(target: Target, run: Run, sequences: list[str] | None = None) -> dict:
    """Send pending outbox rows exactly once through the sequencer adapter."""
    from tasks.post.poster import post_pending

    if run.dry_run:
        return {"skipped": "dry run"}
    return as_dict(
        post_pending(
            target.db,
            target.config(),
            run.now,
            progress=report.post_progress(),
            sequences=sequences,
        )
    )


@task(name="await-approval")
def await_approval(target: Target, run: Run, verdict: dict, wait: bool) -> dict:
    """Pause for a person's decision on held unenrolls, or leave them held for the CLI."""
    from tasks.post import approval

    return approval.decide_held_run(target.db, run.run_id, verdict, wait)


@task(name="finish-run")
def finish_run(target: Target, run: Run, summary: dict) -> None:
    decided = (summary.get("approval") or {}).get("status") in ("approved", "rejected")
    held = summary["breaker"]["tripped"] and not decided
    runs.record_finish(target.db, run.run_id, "awaiting_approval" if held else "finished", summary)


@task(name="report-run")
def report_run(target: Target, summary: dict) -> None:
    """The run's Prefect artifacts: the report and the table of changes."""
    report.publish(target.db, summary)
