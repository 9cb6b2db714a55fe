"""The cycle without Prefect: the same step functions in the same order.

For benchmarks and the soak, which run hundreds of cycles and compare against the flow;
the flow (flows/cycle.py) stays the one users run.
"""

from __future__ import annotations

from datetime import datetime

from tasks import steps


def run_cycle(
    db: str,
    project: str,
    sandbox_url: str | None,
    sandbox_cert: str | None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> dict:
    """One cycle, steps called directly (`.fn`); a tripped breaker leaves rows held."""
    target = steps.Target(
        db=db, project=project, sandbox_url=sandbox_url, sandbox_cert=sandbox_cert
    )
    run = steps.start_run.fn(target, now, dry_run)
    summary: dict = {"run_id": run.run_id, "now": run.now.isoformat(), "dry_run": dry_run}
    summary["sync"] = steps.sync_crms.fn(target, run, None, False)
    summary["model"] = steps.build_model.fn(target)
    summary["enrollments"] = steps.read_enrollments.fn(target, run)
    summary["rules"] = steps.evaluate_rules.fn(target, run, None)
    summary["plays"] = steps.queue_plays.fn(target, run)
    summary["decide"] = steps.decide_changes.fn(target, run)
    summary["breaker"] = steps.check_breaker.fn(target, run)
    summary["post"] = steps.post_changes.fn(target, run)
    if summary["breaker"]["tripped"]:
        summary["approval"] = steps.await_approval.fn(target, run, summary["breaker"], False)
    steps.finish_run.fn(target, run, summary)
    return summary
