"""HubSpot Sequences v4 over the sandbox sequencer: list, get, enroll, enrollment status.

The sequencer (sandbox/sequencer.py) holds the state; these routes answer exactly the
shapes HubSpot documents, and nothing a caller could lean on that HubSpot lacks (no state,
no step, no enrollment history: that truth stays behind `/_sandbox/`). The reference is
HubSpot's API reference for v4 ("legacy" in its docs) and the OpenAPI description HubSpot
publishes (github.com/HubSpot/HubSpot-public-api-spec-collection,
PublicApiSpecs/Automation/Sequences/Rollouts/177891/v4/sequences.json). Errors use its
`Error` schema (`category`, `correlationId`, `message`, optional `subCategory`, `context`).
"""

from __future__ import annotations

import base64
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

DOCS = "https://developers.hubspot.com/docs/api-reference/legacy/automation/sequences/"
# POST /automation/v4/sequences/enrollments: PublicSequenceEnrollmentRequest
ENROLL_REQUIRED = ("contactId", "senderEmail", "sequenceId")
ENROLL_FIELDS = (*ENROLL_REQUIRED, "senderAliasAddress")


def require_user(request: Request) -> str:
    """`userId` (query, required) of the list, get and enroll calls; the status call has
    none (get-enrollment documents only the path's contactId)."""
    user_id = request.query_params.get("userId")
    if not user_id:
        raise validation_error("userId is required: pass the HubSpot user id as ?userId=",
                               context={"userId": ["is required"]})
    return user_id


def encode_after(offset: int) -> str:
    """An opaque paging cursor, as HubSpot's `paging.next.after` is (NextPage.after: a
    "paging cursor token"); callers pass it back unread."""
    return base64.urlsafe_b64encode(f"sequences:{offset}".encode()).decode().rstrip("=")


def decode_after(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, offset = text.partition(":")
        if kind == "sequences" and offset.isdigit():
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise validation_error(f"Invalid paging cursor: {token}", context={"after": [token]})


def sequence_json(row: dict, user_id: str, with_steps: bool) -> dict[str, Any]:
    """A sequence: PublicSequenceLiteResponse (list; createdAt, id, name, updatedAt, userId)
    or, fetched by id, PublicSequenceResponse (plus steps and dependencies; steps are
    PublicSequenceStepResponse: actionType, createdAt, delayMillis, id, stepOrder,
    updatedAt). Pages: get-sequences, get-sequence."""
    created = iso(row["created_at"])
    body: dict[str, Any] = {"id": str(row["id"]), "name": row["name"], "createdAt": created,
                            "updatedAt": created, "userId": user_id}
    if with_steps:
        body["steps"] = [
            {"id": f"{row['id']}{i:03d}", "stepOrder": i, "actionType": "EMAIL",
             "delayMillis": int(step["after_minutes"]) * 60_000, "createdAt": created,
             "updatedAt": created}
            for i, step in enumerate(row["steps"])
        ]
        body["dependencies"] = []
    return body


def list_sequences(state: SandboxState, request: Request, body: Any) -> Response:
    """`GET /automation/v4/sequences?userId=&limit=&after=&name=` (DOCS + get-sequences):
    CollectionResponseWithTotalPublicSequenceLiteResponse `{total, results, paging?}`."""
    from sandbox import sequencer

    user_id = require_user(request)
    limit = min(max(int_param(request, "limit", 10) or 10, 1), 100)
    after = decode_after(request.query_params.get("after"))
    name = request.query_params.get("name")
    rows = [r for r in sequencer.list_sequences(state)
            if not name or name.lower() in r["name"].lower()]
    page = rows[after:after + limit]
    response: dict[str, Any] = {"total": len(rows),
                                "results": [sequence_json(r, user_id, False) for r in page]}
    if after + limit < len(rows):
        cursor = encode_after(after + limit)
        link = str(request.url.include_query_params(after=cursor))
        response["paging"] = {"next": {"after": cursor, "link": link}}
    return json_response(response)


def get_sequence(state: SandboxState, request: Request, body: Any) -> Response:
    """`GET /automation/v4/sequences/{sequenceId}?userId=` (DOCS + get-sequence)."""
    from sandbox import sequencer

    user_id = require_user(request)
    wanted = request.path_params["sequence"]
    row = next((r for r in sequencer.list_sequences(state) if str(r["id"]) == wanted), None)
    if row is None:
        raise HubSpotError(404, f"Sequence {wanted} not found", "OBJECT_NOT_FOUND",
                           context={"sequenceId": [wanted]})
    return json_response(sequence_json(row, user_id, True))


def enroll(state: SandboxState, request: Request, body: Any) -> Response:
    """`POST /automation/v4/sequences/enrollments?userId=` (DOCS + enroll-contact): body
    PublicSequenceEnrollmentRequest (contactId, senderEmail, sequenceId required;
    senderAliasAddress optional), answer PublicSequenceEnrollmentLiteResponse
    `{id, toEmail, enrolledAt, updatedAt}`. One contact into one sequence; there is no
    starting step."""
    from sandbox import sequencer

    user_id = require_user(request)
    if not isinstance(body, dict):
        raise validation_error("Invalid input JSON: expected an object")
    missing = [f for f in ENROLL_REQUIRED if not isinstance(body.get(f), str) or not body[f]]
    unknown = sorted(set(body) - set(ENROLL_FIELDS))
    if missing or unknown:
        problems = {**{f: ["is required"] for f in missing},
                    **{f: ["is not a field of this request"] for f in unknown}}
        raise validation_error(
            "Invalid input JSON: " + "; ".join(f"{f} {why[0]}" for f, why in problems.items()),
            context=problems)
    try:
        row = sequencer.enroll(state, crm="hubspot", contact_id=body["contactId"],
                               sequence_id=body["sequenceId"], sender=body["senderEmail"],
                               enrolled_by=user_id)
    except sequencer.EnrollmentRefused as refused:
        raise validation_error(refused.message, subCategory=refused.code) from None
    return json_response({"id": str(row["id"]), "toEmail": row["email"],
                          "enrolledAt": iso(row["enrolled_at"]),
                          "updatedAt": iso(row["updated_at"])})


def enrollment_status(state: SandboxState, request: Request, body: Any) -> Response:
    """`GET /automation/v4/sequences/enrollments/contact/{contactId}` (DOCS +
    get-enrollment): PublicSequenceEnrollmentResponse, the one enrollment the contact is
    in: `{id, toEmail, sequenceId, sequenceName, enrolledAt, enrolledBy, enrolledByEmail,
    updatedAt}`. No state, no step, no history.

    The page describes that enrollment as "the sequence in which the contact is
    enrolled" and lists no other answer than its `default` Error, so a contact that is
    in no sequence (never enrolled, or no longer) gets HubSpot's 404 Error body.
    """
    contact_id = request.path_params["contact"]
    rows = state.rows(
        """select e.id, e.email, e.sequence_id, s.name as sequence_name, e.enrolled_at,
                  e.updated_at, e.sender,
                  coalesce(e.enrolled_by, cast(o.user_id as varchar),
                           cast(first_user.user_id as varchar)) as enrolled_by
           from sb_enrollments e
           join sb_sequences s on s.id = e.sequence_id
           left join hs_owners o on lower(o.email) = lower(e.sender)
           left join (select min(user_id) as user_id from hs_owners) first_user on true
           where e.crm = 'hubspot' and e.contact_id = ? and e.state in ('active', 'paused')
           order by e.enrolled_at desc, e.id desc limit 1""",
        [contact_id],
    )
    if not rows:
        raise HubSpotError(404, f"Contact {contact_id} is not enrolled in a sequence",
                           "OBJECT_NOT_FOUND", context={"contactId": [contact_id]})
    row = rows[0]
    return json_response({
        "id": str(row["id"]), "toEmail": row["email"], "sequenceId": str(row["sequence_id"]),
        "sequenceName": row["sequence_name"], "enrolledAt": iso(row["enrolled_at"]),
        "enrolledBy": str(row["enrolled_by"] or ""), "enrolledByEmail": row["sender"] or "",
        "updatedAt": iso(row["updated_at"]),
    })
