"""What each Salesforce cadence action is sent for a change, and what its answer means.

Inputs are the ones the Actions Developer Guide lists per action, and no other
(https://developer.salesforce.com/docs/atlas.en-us.api_action.meta/api_action/actions_obj_high_velocity_sales.htm).
A change that needs no call (nothing to remove) or cannot be sent (a start step that is
unknown, a target not in the named cadence) gets its outcome here, without a call. An
answer element is `{actionName, errors: [{statusCode, message, fields}], isSuccess,
outputValues}` (the guide's "Error Response Types").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks.post.sequencers.salesforce_steps import CadenceSteps

ACTIONS = {
    "enroll": "assignTargetToSalesCadence",
    "unenroll": "removeTargetFromSalesCadence",
    "pause": "pauseSalesCadenceTracker",
    "resume": "resumeSalesCadenceTracker",
}
REMOVED = "ManuallyRemoved"   # the completionReasonCode the guide lists as valid
ERROR_CHARS = 300             # a remote error message is cut to this in outbox rows

Plan = dict[str, Any]  # a change's input to send, or its outcome decided without a call
Planner = Callable[[dict[str, Any], list[dict[str, Any]]], Plan]


def assign_input(row: dict[str, Any], users: dict[str, str | None],
                 steps: CadenceSteps) -> Plan:
    """Assign the target to the cadence, as the sender's user, at a recovery's step."""
    item = {"salesCadenceNameOrId": row["sequence_id"], "targetId": row["contact_id"]}
    user = users.get(row["sender"] or "")
    if user:
        item["userId"] = user
    start = row.get("start_step")
    if start is not None and start > 1:
        # a recovery resumes where the person left off: the action takes the step's
        # name or Id, so step n is the Id of the step n places after the cadence's Root
        step_id, unknown = steps.step_at(row["sequence_id"], int(start))
        if step_id is None:
            return {"outcome": "rejected", "error": f"start step unknown: {unknown}"}
        item["startStepNameOrId"] = step_id
    return {"input": item}


def _in_cadence(row: dict[str, Any], trackers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sequence = row.get("sequence_id")
    if not sequence or sequence == "*":
        return trackers
    return [t for t in trackers if t.get("ActionCadenceId") == sequence]


def remove_input(row: dict[str, Any], trackers: list[dict[str, Any]]) -> Plan:
    """Remove the target's tracker in the change's cadence (by its Id, so a target that
    has since moved to another cadence is never removed from that one); '*' removes the
    target from whatever cadence it is in. Nothing to remove: the effect is already there."""
    mine = _in_cadence(row, trackers)
    if not mine:
        return {"outcome": "confirmed",
                "response": {"seqguard_note": "no active cadence tracker to remove"}}
    if row.get("sequence_id") == "*":
        return {"input": {"targetId": row["contact_id"], "completionReasonCode": REMOVED}}
    return {"input": {"actionCadenceTrackerId": mine[0]["Id"], "completionReasonCode": REMOVED}}


def state_input(from_state: str, kind: str) -> Planner:
    """Pause and resume name only the target: send them only when the target's active
    tracker is in the change's cadence and in the state the action changes."""

    def plan(row: dict[str, Any], trackers: list[dict[str, Any]]) -> Plan:
        mine = [t for t in _in_cadence(row, trackers) if t.get("State") == from_state]
        if mine:
            return {"input": {"targetId": row["contact_id"]}}
        states = ", ".join(f"{t.get('State')} in {t.get('ActionCadenceId')}"
                           for t in trackers) or "none"
        return {"outcome": "rejected",
                "error": f"nothing to {kind}: no {from_state} tracker in cadence "
                         f"{row.get('sequence_id')} (active trackers: {states})"}

    return plan


def input_outcome(answer: Any) -> dict[str, Any]:
    """One element of an action's answer as a result row."""
    if not isinstance(answer, dict):
        return {"outcome": "retry", "error": "unreadable per-input result"}
    if answer.get("isSuccess") is True:
        return {"outcome": "sent", "response": answer}
    errors = answer.get("errors")
    listed = isinstance(errors, list) and errors and isinstance(errors[0], dict)
    first = errors[0] if listed else {}
    line = f"{first.get('statusCode', 'ERROR')}: {first.get('message', '')}"
    return {"outcome": "rejected", "response": answer, "error": line[:ERROR_CHARS]}
