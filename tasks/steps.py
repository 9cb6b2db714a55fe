"""The cycle's steps as Prefect tasks: each resolves its inputs and calls plain functions.

Tasks take paths and ids (a `Target`), not connections or clients, so Prefect can show
and hash their inputs; credentials are resolved inside the task that needs them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.client.schemas.objects import State
from prefect.context import get_run_context
from prefect.states import Completed

from tasks.core.clock import naive_utc, utcnow
from tasks.core.config import Config, resolve_config
from tasks.core.errors import ConfigError
from tasks.run import lock as cycle_lock
from tasks.run import report, runs


@dataclass(frozen=True)
class Target:
    """Where a run reads and writes: the database, the project folder, the CRMs."""

    db: str
    project: str
    sandbox_url: str | None = None
    sandbox_cert: str | None = None

    def config(self) -> Config:
        return resolve_config(self.project, self.sandbox_url, self.sandbox_cert)

    def crms(self, wanted: list[str] | None = None) -> list[str]:
        """The configured CRMs to sync, of `wanted` (default: every one)."""
        config = self.config()
        return [crm for crm in ("hubspot", "salesforce")
                if getattr(config, crm) and crm in (wanted or [crm])]


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


def skipped(lock: cycle_lock.Lock) -> dict[str, Any]:
    """The summary of a run that found its database's lock taken, saying why; once the
    lock has been held past two cycles, CycleLockHeld instead (the run fails)."""
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
    return {"skipped": reason, "db": lock.db, "lock": lock.name, "held_by": other.holder,
            "held_since": other.since.isoformat(), "skips": other.skips,
            "now": now.isoformat()}


class Steps:
    """The cycle's steps as Prefect tasks, or (`prefect=False`, for the soak and the
    benchmarks) as the plain functions those tasks wrap, with the lock's file part alone:
    flows/cycle.py writes the steps and their order once, for both."""

    def __init__(self, prefect: bool) -> None:
        self.prefect = prefect

    def __getattr__(self, name: str) -> Callable[..., Any]:
        # looked up at each call, so a benchmark may stand in a timed copy of a step
        step = globals().get(name)
        if not hasattr(step, "fn"):
            raise AttributeError(f"the cycle has no step {name}")
        return step if self.prefect else step.fn

    def lock(self, db: str) -> AbstractContextManager[cycle_lock.Lock]:
        return cycle_lock.held(db, prefect=self.prefect)

    def skip(self, lock: cycle_lock.Lock) -> State | dict[str, Any]:
        """A run that found the lock taken: in Prefect, a Completed state named Skipped."""
        summary = skipped(lock)
        if not self.prefect:
            return summary
        return Completed(name="Skipped", message=summary["skipped"], data=summary)

    def final(self, summary: dict) -> dict | State:
        """What the cycle returns: the summary, or in Prefect a Completed state named for
        a hold that was rejected or still waits, so the run list says so."""
        status = (summary.get("approval") or {}).get("status")
        names = {"rejected": "Rejected", "held": "AwaitingApproval"}
        if not self.prefect or status not in names:
            return summary
        return Completed(name=names[status], message=summary["approval"].get("message"),
                         data=summary)


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


@task(name="check-properties")
def check_properties(target: Target) -> None:
    """Fail in seconds, before any record is read, when seqguard.yml names a property the
    CRM lacks (a ConfigError: no retry would fix it)."""
    from tasks.sync.properties import check_configured_properties

    check_configured_properties(target.config())


@task(name="sync-crm", task_run_name="sync-{crm}", retries=2, retry_delay_seconds=[10, 30],
      retry_condition_fn=recoverable)
def sync_crm(target: Target, run: Run, crm: str, full_resync: bool) -> dict:
    """Pull what changed in one CRM into its raw snapshot tables (a task per CRM, so a
    failed Salesforce sync retries alone)."""
    from tasks.sync.hubspot.settings import OBJECTS as hubspot_objects
    from tasks.sync.hubspot.sync import sync_hubspot
    from tasks.sync.salesforce.settings import OBJECTS as salesforce_objects
    from tasks.sync.salesforce.sync import sync_salesforce

    sync = {"hubspot": sync_hubspot, "salesforce": sync_salesforce}[crm]
    objects = {"hubspot": hubspot_objects, "salesforce": salesforce_objects}[crm]
    with report.sync_progress(crm, len(objects)) as progress:
        return as_dict(sync(target.db, target.config(), run.now, full_resync=full_resync,
                            progress=progress))


@task(name="read-sequencer-activity", retries=2, retry_delay_seconds=[10, 30],
      retry_condition_fn=recoverable)
def read_sequencer_activity(target: Target, run: Run) -> dict | None:
    """A sequencer with people of its own (Outreach, Salesloft, Apollo): the replies,
    bounces and unsubscribes it saw since the last read, before the model uses them.
    None for HubSpot and Salesforce, whose activity comes with the CRM sync."""
    from tasks.post.own_people import read_activity

    return as_dict(read_activity(target.db, target.config(), run.now))


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
    from tasks.post import approval, breaker

    verdict = breaker.check(target.db, run.run_id, target.config())
    if verdict.tripped:
        breaker.hold(target.db, run.run_id)
    # holds of earlier runs nobody has decided: this run says so (their people wait)
    return {**as_dict(verdict), "waiting": approval.pending_holds(target.db, run.run_id)}


@task(name="post-changes", retries=2, retry_delay_seconds=[10, 30],
      retry_condition_fn=recoverable)
def post_changes(target: Target, run: Run, sequences: list[str] | None = None) -> dict:
    """Send pending outbox rows exactly once through the sequencer adapter."""
    from tasks.post.poster import post_pending

    if run.dry_run:
        return {"skipped": "dry run"}
    with report.post_progress() as progress:
        return as_dict(post_pending(target.db, target.config(), run.now, progress=progress,
                                    sequences=sequences))


@task(name="await-approval")
def await_approval(target: Target, run: Run, verdict: dict, wait: bool) -> dict:
    """Pause for a person's decision on held unenrolls, or leave them held for the CLI."""
    from tasks.post import approval

    return approval.decide_held_run(target.db, run.run_id, verdict, wait)


@task(name="finish-run")
def finish_run(target: Target, run: Run, summary: dict) -> None:
    decision = (summary.get("approval") or {}).get("status")
    held = summary["breaker"]["tripped"] and decision not in ("approved", "rejected")
    status = ("awaiting_approval" if held else "rejected" if decision == "rejected"
              else "finished")
    runs.record_finish(target.db, run.run_id, status, summary)


@task(name="report-run")
def report_run(target: Target, summary: dict) -> None:
    """The run's Prefect artifacts: the report and the table of changes."""
    report.publish(target.db, summary)
