"""Approval of a run the circuit breaker stopped: in the Prefect form, or on the CLI.

The held unenrolls stay in ops.outbox as 'held' until a person decides: approving makes
them pending (the poster sends them), rejecting cancels them. Nothing is posted meanwhile.
Both ways are one mechanism: the decision is one row of ops.approvals, written in the
same transaction that moves the held rows, and the first one wins. The CLI writes it and
then resumes the run's paused flow (which reads it and posts); the form's answer writes
it unless the CLI already did. The approver sees who would be removed before deciding:
the run's report and changes table are published before the pause, and the form shows
the counts per rule and a sample of the people.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from prefect.input import RunInput
from pydantic import Field

from tasks.core.clock import utcnow
from tasks.core.errors import SeqguardError
from tasks.db import sql
from tasks.db.store import connect, publish_reader_copy, transaction
from tasks.post import breaker

APPROVAL_TIMEOUT = timedelta(hours=4)
POLL_SECONDS = 3  # how soon a paused run sees its answer
SAMPLE = 20  # people shown in the form
RULES_SHOWN = 30  # rule and sequence rows shown in the form


class ApprovalError(SeqguardError):
    """A decision that cannot be made: no such hold, or decided already."""

    exit_code = 2


class Approval(RunInput):
    """The form the Prefect UI shows on a paused run: a choice with no default, so
    closing the form decides nothing."""

    decision: Literal["approve", "reject"] = Field(
        description="approve: post the held unenrolls; reject: cancel them (the same "
        "people are not held again until a rule version or their enrollment changes)")
    approver: str = Field(min_length=1, description="who decides (recorded with the run)")
    note: str = Field(default="", description="why: kept with the decision and the run")


def review(db_path: str | Path, run_id: str) -> dict[str, Any]:
    """What a held run would do: people per rule and sequence, and a sample of them."""
    with connect(db_path) as con:
        return {"rules": sql.dicts(con, "post/held_rules", run_id=run_id),
                "sample": sql.dicts(con, "post/held_sample", run_id=run_id, limit=SAMPLE)}


def describe(verdict: dict, held: dict[str, Any]) -> str:
    """The pause form's text: the counts, every rule behind them, a sample of people."""
    rules = held["rules"]
    lines = [
        f"**Run {verdict['run_id']} would unenroll {verdict['unenrolls']} people** "
        f"({verdict['pct']:.1f}% of {verdict['open_enrollments']} open enrollments; "
        f"thresholds {verdict['threshold_pct']:g}% / {verdict['threshold_count']} people). "
        "Nothing has been posted.", "",
        "| rule | sequence | people |", "| --- | --- | --- |",
        *[f"| {r['rule']} | {r['sequence']} | {r['people']} |" for r in rules[:RULES_SHOWN]],
    ]
    if len(rules) > RULES_SHOWN:
        lines.append(f"| ... {len(rules) - RULES_SHOWN} more | | |")
    lines += ["", f"A sample of {len(held['sample'])} of them:", "",
              "| email | sequence | rule | reason |", "| --- | --- | --- | --- |",
              *[f"| {p['email']} | {p['sequence']} | {p['rule']} | {p['reason'] or ''} |"
                for p in held["sample"]],
              "", "Every change is in this run's `exclusion-changes` artifact and "
              "`cycle-report`. Choose **approve** to post these unenrolls or **reject** to "
              f"cancel them; the same choice on the CLI: {cli_hint(verdict['run_id'])}."]
    return "\n".join(lines)


def cli_hint(run_id: str) -> str:
    return (f"`seqguard cycle --approve {run_id}` or `seqguard cycle --reject {run_id}` "
            "(with `--note TEXT`)")


def decide_held_run(db_path: str | Path, run_id: str, verdict: dict, wait: bool) -> dict:
    """Pause for the form's decision when `wait`, else leave the rows held for the CLI.
    A decision the CLI made meanwhile stands; so does one made after the pause timed out."""
    if not wait:
        return {"status": "held", "message": f"held for approval: {cli_hint(run_id)}"}
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run

    form = Approval.with_initial_data(description=describe(verdict, review(db_path, run_id)))
    try:
        answer = pause_flow_run(wait_for_input=form, poll_interval=POLL_SECONDS,
                                timeout=int(APPROVAL_TIMEOUT.total_seconds()))
    except FlowPauseTimeout as exc:  # decided elsewhere meanwhile (the CLI, no Prefect API)?
        recorded = decision_of(db_path, run_id)
        if recorded:
            return recorded
        hours = APPROVAL_TIMEOUT.total_seconds() / 3600
        return {"status": "held", "message": f"no decision within {hours:g} h "
                f"({type(exc).__name__}); still held: {cli_hint(run_id)}"}
    return decide(db_path, run_id, answer.decision == "approve", answer.approver,
                  note=answer.note, via="prefect-form", exists_ok=True)


def decide(db_path: str | Path, run_id: str, approve: bool, actor: str, *, note: str = "",
           via: str, exists_ok: bool = False, now: datetime | None = None) -> dict:
    """Release (approve) or cancel (reject) a run's held rows and record the decision, in
    one transaction. A run decided already -> its recorded decision when `exists_ok`
    (the flow resumed by the CLI), else ApprovalError; no held rows -> ApprovalError."""
    when = now or utcnow()
    with connect(db_path) as con, transaction(con):
        recorded = sql.dicts(con, "post/approval_of", run_id=run_id)
        if recorded:
            if exists_ok:
                return as_outcome(recorded[0])
            raise ApprovalError(f"run {run_id} was already {as_outcome(recorded[0])['message']}")
        moved = (breaker.release(con, run_id) if approve else breaker.cancel(con, run_id, actor))
        if not moved:
            raise ApprovalError(
                f"run {run_id} has no held changes; `seqguard runs` lists the runs "
                "awaiting approval")
        decision = "approved" if approve else "rejected"
        sql.run(con, "post/record_approval", run_id=run_id, decision=decision, actor=actor,
                note=note or None, via=via, changes=moved, now=when)
    publish_reader_copy(db_path)  # `seqguard runs` and `history` show the decision at once
    return as_outcome({"run_id": run_id, "decision": decision, "actor": actor,
                       "note": note or None, "via": via, "changes": moved, "decided_at": when})


def decide_on_cli(db_path: str | Path, run_id: str, approve: bool, actor: str,
                  note: str = "") -> dict:
    """`seqguard cycle --approve/--reject RUN`: record the decision, then close the run's
    pause in Prefect if it is paused there (`resumed`: that flow run posts what was
    approved; otherwise the caller posts)."""
    from tasks.run.lock import prefect_api_configured

    outcome = decide(db_path, run_id, approve, actor, note=note, via="cli")
    outcome["resumed"] = resume_paused_run(run_id, approve, actor, note)
    outcome["prefect_api"] = prefect_api_configured()
    return outcome


def as_outcome(row: dict[str, Any]) -> dict[str, Any]:
    """A recorded decision as the run summary's `approval`."""
    note = f" ({row['note']})" if row.get("note") else ""
    return {"status": row["decision"], "by": row["actor"], "note": row.get("note"),
            "via": row["via"], "changes": row["changes"], "decided_at": row["decided_at"],
            "message": f"{row['decision']} by {row['actor']} via {row['via']} at "
                       f"{row['decided_at']:%Y-%m-%d %H:%M}{note}: {row['changes']} changes"}


def decision_of(db_path: str | Path, run_id: str) -> dict[str, Any] | None:
    with connect(db_path) as con:
        found = sql.dicts(con, "post/approval_of", run_id=run_id)
    return as_outcome(found[0]) if found else None


def pending_holds(db_path: str | Path, run_id: str) -> list[dict[str, Any]]:
    """Other runs still waiting for a decision, oldest first."""
    with connect(db_path) as con:
        return sql.dicts(con, "post/pending_holds", run_id=run_id)


def resume_paused_run(run_id: str, approve: bool, actor: str, note: str) -> bool:
    """Close the pause of run `run_id` with the decision just recorded, when it is a
    flow run paused on the configured Prefect API; True when one was resumed (the flow
    then posts). A run id Prefect does not know, or no API: False."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.flow_runs import resume_flow_run

    from tasks.run.lock import prefect_api_configured

    if not prefect_api_configured():
        return False
    try:
        flow_run_id = UUID(run_id)
    except ValueError:
        return False
    with get_client(sync_client=True) as client:
        try:
            flow_run = client.read_flow_run(flow_run_id)
        except ObjectNotFound:
            return False
    if flow_run.state is None or not flow_run.state.is_paused():
        return False
    resume_flow_run(flow_run_id, run_input={
        "decision": "approve" if approve else "reject", "approver": actor, "note": note})
    return True
