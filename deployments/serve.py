"""Serve seqguard's deployments: the cycle every 15 minutes, and the ad-hoc flows.

At most one cycle runs per database: the cycle takes that database's lock
(tasks/run/lock.py), and a run that finds it taken is skipped with the reason, not
queued; it fails loudly once the lock has been held past two cycles. The deployment has
no concurrency limit of its own: one would cancel those runs before they could say why.
"""

from __future__ import annotations

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.cycle import cycle

CYCLE_CRON = "*/15 * * * *"


def cycle_deployment(
    db: str, project: str, sandbox_url: str | None, sandbox_cert: str | None, timezone: str = "UTC"
) -> RunnerDeployment:
    """The scheduled cycle; a run that starts while another holds the database is skipped."""
    return cycle.to_deployment(
        name="cycle",
        schedules=[Cron(CYCLE_CRON, timezone=timezone)],
        parameters={**_where(db, project, sandbox_url, sandbox_cert), "wait_for_approval": True},
        description="Every 15 minutes: sync the CRMs, run the rules, post enrollment changes.",
        tags=["seqguard"],
    )


def _where(db: str, project: str, sandbox_url: str | None, sandbox_cert: str | None) -> dict:
    return {"db": db, "project": project, "sandbox_url": sandbox_url, "sandbox_cert": sandbox_cert}


def adhoc_deployments(
    db: str, project: str, sandbox_url: str | None, sandbox_cert: str | None
) -> list[RunnerDeployment]:
    """Unscheduled deployments for what a person does by hand."""
    from flows.adhoc import enroll_person, recover_removals, unenroll_people

    where = _where(db, project, sandbox_url, sandbox_cert)
    return [
        adhoc.to_deployment(
            name=name,
            parameters=where,
            tags=["seqguard", "ad-hoc"],
            description=(adhoc.description or "").split("\n")[0],
        )
        for name, adhoc in (
            ("enroll", enroll_person),
            ("unenroll", unenroll_people),
            ("recover", recover_removals),
        )
    ]


def all_deployments(
    db: str, project: str, sandbox_url: str | None = None, sandbox_cert: str | None = None
) -> list[RunnerDeployment]:
    from tasks.core.config import load_config

    config = load_config(project)
    timezone = config.timezone if config else "UTC"
    return [
        cycle_deployment(db, project, sandbox_url, sandbox_cert, timezone),
        *adhoc_deployments(db, project, sandbox_url, sandbox_cert),
    ]


def serve_all(
    db: str, project: str, sandbox_url: str | None = None, sandbox_cert: str | None = None
) -> None:
    """Serve every deployment against the configured Prefect API until stopped."""
    serve(*all_deployments(db, project, sandbox_url, sandbox_cert))
