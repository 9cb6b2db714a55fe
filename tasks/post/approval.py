"""Approval of a run the circuit breaker stopped: in the Prefect UI, or on the CLI.

The held unenrolls stay in ops.outbox as 'held' until a person decides: approving makes
them pending (the poster sends them), rejecting cancels them. Nothing is posted meanwhile.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prefect.input import RunInput

from tasks.post import breaker

APPROVAL_TIMEOUT = timedelta(hours=4)


class Approval(RunInput):
    """The form the Prefect UI shows on a paused run."""

    approve: bool = False
    approver: str = ""
    note: str = ""


def describe(verdict: dict) -> str:
    """The pause form's text: the counts and the rules behind them."""
    top = "\n".join(f"- {r['rule']}: {r['people']} people" for r in verdict.get("top_rules", []))
    return (
        f"**Run {verdict['run_id']} would unenroll {verdict['unenrolls']} people** "
        f"({verdict['pct']:.1f}% of {verdict['open_enrollments']} open enrollments; "
        f"thresholds {verdict['threshold_pct']}% / {verdict['threshold_count']} people).\n\n"
        f"Top rules:\n{top}\n\nApprove to post these unenrolls; reject to cancel them."
    )


def cli_hint(run_id: str) -> str:
    return (
        f"held for approval: approve with `seqguard cycle --approve {run_id}` or "
        f"cancel with `seqguard cycle --reject {run_id}`"
    )


def decide_held_run(db_path: str | Path, run_id: str, verdict: dict, wait: bool) -> dict:
    """Pause for the UI's decision when `wait`, else leave the rows held for the CLI."""
    if not wait:
        return {"status": "held", "message": cli_hint(run_id)}
    from prefect.flow_runs import pause_flow_run

    answer = pause_flow_run(
        wait_for_input=Approval.with_initial_data(description=describe(verdict)),
        timeout=int(APPROVAL_TIMEOUT.total_seconds()),
    )
    return apply_decision(db_path, run_id, answer.approve, answer.approver or "prefect-ui")


def apply_decision(db_path: str | Path, run_id: str, approve: bool, actor: str) -> dict:
    """Release (approve) or cancel (reject) a run's held rows."""
    if approve:
        return {
            "status": "approved",
            "by": actor,
            "released": breaker.release(db_path, run_id, actor),
        }
    return {"status": "rejected", "by": actor, "cancelled": breaker.cancel(db_path, run_id, actor)}
