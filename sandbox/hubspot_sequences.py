"""HubSpot Sequences v4 over the sandbox sequencer: list, get, enroll, enrollment status.

The sequencer (sandbox/sequencer.py) holds the state; these routes give it HubSpot's
shapes. Every call needs `userId`, as HubSpot's does. Refusals answer HubSpot's 400
with the refusal code as `subCategory`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.hubspot_common import (
    HubSpotError,
    int_param,
    iso,
    json_response,
    validation_error,
)
from sandbox.state import SandboxState

UNENROLL_PROPERTY = "seqguard_unenroll_sequence"
UNENROLL_REASON = "seqguard_unenroll_reason"
STATUS = {"active": "ACTIVE", "paused": "PAUSED", "finished": "FINISHED",
          "unenrolled": "UNENROLLED"}


def require_user(request: Request) -> str:
    user_id = request.query_params.get("userId")
    if not user_id:
        raise validation_error("userId is required: pass the HubSpot user id of the sender "
                               "as ?userId=")
    return user_id


def sequence_json(row: dict, user_id: str, with_steps: bool) -> dict[str, Any]:
    """A sequence as v4 lists it; with `steps` (delays in ms) when fetched by id."""
    created = iso(row["created_at"])
    body: dict[str, Any] = {"id": str(row["id"]), "name": row["name"], "createdAt": created,
                            "updatedAt": created, "userId": user_id}
    if with_steps:
        body["steps"] = [
            {"id": f"{row['id']}-{i}", "stepOrder": i, "actionType": "EMAIL",
             "delayMillis": int(step["after_minutes"]) * 60_000, "createdAt": created,
             "updatedAt": created}
            for i, step in enumerate(row["steps"])
        ]
        body["dependencies"] = []
    return body


def list_sequences(state: SandboxState, request: Request, body: Any) -> Response:
    """`GET /automation/v4/sequences?userId=`: `{total, results, paging}`, offset paging."""
    from sandbox import sequencer

    user_id = require_user(request)
    limit = min(max(int_param(request, "limit", 10) or 10, 1), 100)
    after = int_param(request, "after", 0) or 0
    name = request.query_params.get("name")
    rows = [r for r in sequencer.list_sequences(state)
            if not name or name.lower() in r["name"].lower()]
    page = rows[after:after + limit]
    response: dict[str, Any] = {"total": len(rows),
                                "results": [sequence_json(r, user_id, False) for r in page]}
    if after + limit < len(rows):
        link = str(request.url.include_query_params(after=str(after + limit)))
        response["paging"] = {"next": {"after": str(after + limit), "link": link}}
    return json_response(response)


def get_sequence(state: SandboxState, request: Request, body: Any) -> Response:
    from sandbox import sequencer

    user_id = require_user(request)
    wanted = request.path_params["sequence"]
    row = next((r for r in sequencer.list_sequences(state) if str(r["id"]) == wanted), None)
    if row is None:
        raise HubSpotError(404, f"Sequence {wanted} not found", "OBJECT_NOT_FOUND",
                           context={"sequenceId": [wanted]})
    return json_response(sequence_json(row, user_id, True))


def enroll(state: SandboxState, request: Request, body: Any) -> Response:
    """`POST /automation/v4/sequences/enrollments?userId=`: one contact into one sequence."""
    from sandbox import sequencer

    require_user(request)
    if not isinstance(body, dict) or not body.get("sequenceId") or not body.get("contactId"):
        raise validation_error("Invalid input JSON: sequenceId and contactId are required")
    try:
        row = sequencer.enroll(state, crm="hubspot", contact_id=str(body["contactId"]),
                               sequence_id=str(body["sequenceId"]),
                               sender=body.get("senderEmail"))
    except sequencer.EnrollmentRefused as refused:
        raise validation_error(refused.message, subCategory=refused.code) from None
    return json_response({"id": str(row["id"]), "toEmail": row["email"],
                          "enrolledAt": iso(row["enrolled_at"]),
                          "updatedAt": iso(row["updated_at"])})


def enrollment_json(row: dict) -> dict[str, Any]:
    status = STATUS.get(row["state"], str(row["state"]).upper())
    return {
        "id": str(row["id"]), "toEmail": row["email"], "sequenceId": str(row["sequence_id"]),
        "sequenceName": row.get("sequence_name"), "enrolledAt": iso(row["enrolled_at"]),
        "updatedAt": iso(row["updated_at"]), "enrolledBy": row.get("sender"),
        "enrolledByEmail": row.get("sender"), "state": status, "status": status,
        "currentStep": int(row["step"]), "unenrollReason": row.get("reason"),
    }


def enrollment_status(state: SandboxState, request: Request, body: Any) -> Response:
    """`GET /automation/v4/sequences/enrollments/contact/{contactId}?userId=`.

    The top level is the contact's current enrollment (the open one, else the latest), as
    HubSpot answers; `enrollments` lists every one the contact has had (a sandbox extra,
    so a caller can see an unenroll happened). 404 when the contact was never enrolled.
    """
    from sandbox import sequencer

    require_user(request)
    contact_id = request.path_params["contact"]
    rows = sequencer.enrollments_of(state, crm="hubspot", contact_id=contact_id)
    if not rows:
        raise HubSpotError(404, f"Contact {contact_id} is not enrolled in any sequence",
                           "OBJECT_NOT_FOUND", context={"contactId": [contact_id]})
    current = max(rows, key=lambda r: (r["state"] in sequencer.OPEN_STATES,
                                       as_time(r["updated_at"]), r["id"]))
    return json_response(enrollment_json(current)
                         | {"enrollments": [enrollment_json(r) for r in rows]})


def as_time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def run_unenroll_workflow(state: SandboxState, contact_ids: list[int]) -> None:
    """The HubSpot workflow seqguard's README sets up: a set `seqguard_unenroll_sequence`
    (a sequence id or `*`) unenrolls the contact, with `seqguard_unenroll_reason`."""
    if not contact_ids:
        return
    from sandbox import sequencer

    reason_sql = UNENROLL_REASON if has_column(state, "contacts", UNENROLL_REASON) else "null"
    rows = state.rows(
        f"""select id, {UNENROLL_PROPERTY} as target, {reason_sql} as reason
            from hs_contacts where id in (select unnest(?)) order by id""",
        [sorted(set(contact_ids))],
    )
    targets = [
        {"contact_id": str(row["id"]), "reason": row["reason"],
         "sequence_id": None if row["target"].strip() == "*" else row["target"].strip()}
        for row in rows if (row["target"] or "").strip()
    ]
    sequencer.change_states(state, crm="hubspot", targets=targets, to_state="unenrolled")


def has_column(state: SandboxState, object_type: str, name: str) -> bool:
    rows = state.rows(
        "select 1 from duckdb_columns() where table_name = ? and column_name = ?",
        [f"hs_{object_type}", name])
    return bool(rows)
