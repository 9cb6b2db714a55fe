"""`seqguard recover --rule R --since T`: undo a rule's wrongful removals. Everyone R
removed since T is re-enrolled, at the step after their last completed one, where R no
longer matches them and nothing else blocks; decided by the same SQL as every
enrollment, recorded with the user as actor, posted by the cycle's poster."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tasks.core.config import Config
from tasks.db import sql
from tasks.db.store import connect
from tasks.decide import decide
from tasks.decide.manual import ManualResult, action_id, decision_run, finish
from tasks.decide.requests import request_table
from tasks.post.sequencers import NAMES, REPORTS_STEP, STARTS_MID_SEQUENCE, base


@dataclass
class RecoverPlan:
    """recover's plan: one row per person and sequence the rule removed, with status
    ready | still_matches | already_enrolled | blocked | no_sender, and `applied` once
    posted; `messages` say why rows are not ready."""

    rule: str
    since: datetime
    action_id: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    applied: bool = False
    messages: list[str] = field(default_factory=list)


def recover(db_path: str | Path, rule: str, since: datetime, *, now: datetime, sequencer: str,
            actor: str, config: Config | None = None, apply: bool = False,
            sender: str | None = None, post: bool = True) -> RecoverPlan:
    """Plan (and with `apply`, make) the re-enrollment of everyone `rule` removed since
    `since`, at the step after their last completed one, where the rule no longer
    matches them and nothing else blocks (other rules, one open sequence, unsubscribed).
    On HubSpot, whose API cannot start mid-sequence, they restart at step 1; each row's
    `note` says so. They are enrolled from `sender`, else their owner, else the
    configured default_sender; on HubSpot a row with none is `no_sender`.
    """
    run_id = action_id("recover", actor, now)
    plan = RecoverPlan(rule=rule, since=since, action_id=run_id)
    with connect(db_path) as con:
        match_run = decision_run(con)
        sql.materialize(con, "d_matches", "decide/matches", run_id=match_run)
        plan.rows = sql.dicts(con, "decide/recover", rule=rule, since=since, now=now,
                              sequencer=sequencer, sender=sender and sender.strip().lower(),
                              default_sender=config.default_sender if config else None)
        note_restarts(plan.rows, sequencer)
        mark_no_sender(plan.rows, sequencer)
        if not plan.rows:
            known = con.execute("select count(*) from ops.enrollment_events where rule = ?",
                                [rule]).fetchall()[0][0]
            hint = "" if known else f" (no removal by rule '{rule}' ever: check the name)"
            plan.messages.append(f"rule {rule} removed nobody since {since.isoformat()}{hint}")
            return plan
        ready = [r for r in plan.rows if r["status"] == "ready"]
        requests = request_table([{
            "request_id": i, "source": "recover", "email": r["email"],
            "sequence_id": r["sequence_id"], "crm": sequencer, "sender": r["sender"],
            "allow_reenrollment": True, "rank_at": r["removed_at"], "start_step": r["start_step"],
            "actor": actor, "request_rule": rule,
            "note": f"recover: {rule} removed them {r['removed_at']:%Y-%m-%d %H:%M}",
        } for i, r in enumerate(ready, start=1)])
        if apply and ready:
            decide.decide_on(con, run_id, now, requests, match_run=match_run, sequencer=sequencer,
                                  with_unenrolls=False)
        else:
            # a plan only fills temp tables: nothing is written
            decide.prepare(con, match_run, requests, sequencer)
            decide.compute(con, with_unenrolls=False)
        mark_blocked(ready, decide.outcomes_of(con), decide.exclusions_of(con))
        plan.messages += why_not(plan.rows, rule, sql.dicts(con, "decide/evaluation_of",
                                                            run_id=match_run)[0])
    if apply and any(r["status"] == "ready" for r in plan.rows):
        plan.applied = True
        finish(db_path, ManualResult(action_id=run_id), config, now, post)
    return plan


def note_restarts(plan_rows: list[dict[str, Any]], sequencer: str) -> None:
    """Give each plan row the step the sequencer will really start at (`starts_at_step`)
    and, where its enroll call takes no starting step, a `note` saying why it is step 1;
    where it reports no step (HubSpot, Apollo), how far they got is unknown, so the plan
    must not promise step N there."""
    for row in plan_rows:
        row["note"] = None if sequencer in STARTS_MID_SEQUENCE else base.restart_note(
            NAMES.get(sequencer, sequencer), row["start_step"], recovering=True,
            step_known=sequencer in REPORTS_STEP)
        row["starts_at_step"] = 1 if row["note"] else row["start_step"]
        if sequencer not in REPORTS_STEP:
            row["completed"] = None


def why_not(plan_rows: list[dict[str, Any]], rule: str, evaluation: dict[str, Any]) -> list[str]:
    """Why rows cannot be re-enrolled now, once per reason, with what to do."""
    counts = Counter(row["status"] for row in plan_rows)
    messages = []
    if counts["still_matches"]:
        messages.append(
            f"{counts['still_matches']} still matched by {rule} in the latest evaluation "
            f"(run {evaluation['run_id']}, cycle time {evaluation['now']:%Y-%m-%d %H:%M}): "
            f"they come back only once {rule} no longer matches them; fix the rule or the "
            "data it reads, let the new version take effect (propagation_delay) and a "
            "cycle run, then run recover again")
    if counts["blocked"]:
        messages.append(f"{counts['blocked']} blocked by other rules or constraints (named "
                        "per person): those still apply")
    if counts["no_sender"]:
        messages.append(f"{counts['no_sender']} have no owner in the CRM to send from, and "
                        "HubSpot enrolls only on behalf of a user's connected inbox; pass "
                        "--sender ADDR, or set default_sender in seqguard.yml")
    return messages


def mark_no_sender(plan_rows: list[dict[str, Any]], sequencer: str) -> None:
    """HubSpot enrolls only on behalf of a connected inbox: a ready row with no sender
    (no --sender, no owner, no default_sender) cannot be re-enrolled there."""
    if sequencer != "hubspot":
        return
    for row in plan_rows:
        if row["status"] == "ready" and not row["sender"]:
            row["status"] = "no_sender"


def mark_blocked(ready: list[dict[str, Any]], outcomes: list[dict[str, Any]],
                 exclusions: list[dict[str, Any]]) -> None:
    """Give each ready row the enroll decision's verdict: still ready, or blocked and why."""
    by_request = {o["request_id"]: o for o in outcomes}
    for i, row in enumerate(ready, start=1):
        outcome = by_request.get(i)
        if outcome is None or outcome["outcome"] == "enroll":
            continue
        rules = [f"{x['rule']} ({x['scope']})" for x in exclusions if x["request_id"] == i]
        row["status"] = "blocked"
        row["blocked_by"] = ", ".join(rules) if rules else outcome["reason"]
