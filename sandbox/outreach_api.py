"""Outreach's REST API v2 (JSON:API) over the shared sandbox sequencer.

Served, as Outreach documents them (pages cited beside each shape; the resources in
sandbox/outreach_resources.py):
- collections `GET /api/v2/{prospects,sequences,sequenceSteps,mailboxes,sequenceStates,
  mailings}` and one record `GET /api/v2/<plural>/{id}`;
- `POST /api/v2/sequenceStates`: add a prospect to a sequence with a mailbox ("Common
  patterns", https://developers.outreach.io/api/common-patterns/, and the Sequence State
  reference, https://developers.outreach.io/api/reference/tag/Sequence-State/);
- `POST /api/v2/sequenceStates/{id}/actions/{finish,pause,resume}`: the member actions
  ("Finishes an active sequence state", "Pauses an active sequence state", "Resumes a
  paused sequence state", same reference).

Every request must say `Content-Type: application/vnd.api+json` or gets the documented
415 ("Making requests", Content Negotiation, https://developers.outreach.io/api/making-requests/).
Errors are JSON:API's `{"errors": [{"id", "title", "detail"}]}`: 404 resourceNotFound,
422 validationError (with `source.pointer`) when a create or an action cannot be done, 400
for a parameter the API does not take. Past the rate limit Outreach answers 429
rateLimitExceeded, and every answer carries X-RateLimit-Limit, -Remaining and -Reset (the
window's end, epoch seconds) ("Getting started", Rate Limiting,
https://developers.outreach.io/api/getting-started/: 10,000 requests per user per hour).
The sandbox's own truth (enrollment state, steps sent) stays behind `/_sandbox/`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import people, sequencer
from sandbox.faults import RateWindow
from sandbox.outreach_resources import (
    RESOURCES,
    SEQUENCE_STATES,
    SEQUENCER,
    OutreachError,
    Resource,
    bad_request,
    encode_cursor,
    not_found,
    parse_query,
    read_one,
    read_page,
    seq_num_sql,
    to_json,
)
from sandbox.state import SandboxState
from sandbox.vendors import Answer, Handler, Shapes, json_call

MEDIA_TYPE = "application/vnd.api+json"
BASE = "/api/v2"
# POST /sequenceStates: the relationships a create names (the Sequence State reference
# marks the others read-only); every attribute of a sequence state is read-only
CREATE_RELATIONSHIPS = {"prospect": "prospect", "sequence": "sequence", "mailbox": "mailbox"}
# member action -> (the Outreach states it acts on, the shared sequencer's target state)
ACTIONS = {
    "finish": (("active", "pending", "paused", "failed", "bounced", "disabled"), "unenrolled"),
    "pause": (("active", "pending"), "paused"),
    "resume": (("paused",), "active"),
}


def _error(error_id: str, title: str, detail: str) -> dict[str, Any]:
    return {"errors": [{"id": error_id, "title": title, "detail": detail}]}


def _rate_headers(window: RateWindow) -> dict[str, str]:
    reset = int(time.time() + window.reset_in + 0.999)
    return {"X-RateLimit-Limit": str(window.limit),
            "X-RateLimit-Remaining": str(window.remaining),
            "X-RateLimit-Reset": str(reset)}


def _rate_limited(window: RateWindow) -> Answer:
    again = (datetime.now(UTC) + timedelta(seconds=window.reset_in)).strftime(
        "%Y-%m-%dT%H:%M:%S")
    # "Getting started", Rate Limiting: the documented 429 body
    return 429, _error("rateLimitExceeded", "Rate Limit Exceeded",
                       f"You have exceeded your permitted rate limit of {window.limit:,}; "
                       f"please try again at {again}."), {}


SHAPES = Shapes(
    # the reference shows no 401 body; its envelope is every error's (errors[], id, title,
    # detail); seqguard reads only the status
    unauthorized=lambda: (401, _error("unauthorized", "Unauthorized",
                                      "The access token is missing, expired or invalid."), {}),
    rate_limited=_rate_limited,
    # "Getting started", Maintenance: 503 scheduledServerMaintenance
    server_error=lambda: (503, _error("scheduledServerMaintenance",
                                      "Scheduled Server Maintenance",
                                      "Scheduled server maintenance is under way; please try "
                                      "again later."), {}),
    rate_headers=_rate_headers,
)

def routes(state: SandboxState) -> list[Route]:
    table: list[tuple[str, list[str], Handler]] = [
        (f"{BASE}/sequenceStates", ["POST"], create_sequence_state),
        (f"{BASE}/sequenceStates/{{id}}/actions/{{action}}", ["POST"], act),
        (f"{BASE}/{{plural}}", ["GET"], collection),
        (f"{BASE}/{{plural}}/{{id}}", ["GET"], record),
    ]
    return [Route(path, _endpoint(state, handler), methods=methods)
            for path, methods, handler in table]


def _endpoint(state: SandboxState, handler: Handler) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type != MEDIA_TYPE:
            # "Making requests", Content Negotiation: the documented 415 (its key is
            # "details", as the page shows it)
            return JSONResponse({"errors": [{
                "id": "unsupportedMediaType", "title": "Unsupported Media Type",
                "details": f"Expected Content-Type header to be '{MEDIA_TYPE}'."}]},
                status_code=415, media_type=MEDIA_TYPE)
        return await json_call(state, request, handler,
                               lambda: bad_request("the request body is not JSON"),
                               OutreachError, _answer)

    run.__name__ = handler.__name__
    return run


def _answer(error: OutreachError) -> Response:
    return JSONResponse(error.body, status_code=error.status, media_type=MEDIA_TYPE)


def _ok(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def _resource(request: Request) -> Resource:
    plural = request.path_params["plural"]
    if plural not in RESOURCES:
        raise OutreachError(404, "resourceNotFound", "Resource Not Found",
                            f"Could not find the resource type '{plural}'.")
    return RESOURCES[plural]


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}{BASE}"


def collection(state: SandboxState, request: Request, body: Any) -> Response:
    """`GET /api/v2/<plural>`: `{data: [...], links: {first, next?}, meta?: {count}}`
    ("Making requests": Fetch a Collection of Resources, Pagination, Filtering, Sorting,
    Sparse Fieldsets)."""
    resource = _resource(request)
    query = parse_query(resource, request)
    if resource.plural in ("prospects", "mailboxes"):
        people.mirrored(state, SEQUENCER)
    rows, more, total = read_page(state, resource, query)
    base = _base(request)
    first = request.url.remove_query_params("page[after]")
    links: dict[str, str] = {"first": str(first)}
    if more:
        links["next"] = str(request.url.include_query_params(
            **{"page[after]": encode_cursor(query.offset + query.size)}))
    answer: dict[str, Any] = {"data": [to_json(resource, r, base, query.fields) for r in rows],
                              "links": links}
    if total is not None:
        answer["meta"] = {"count": total, "count_truncated": False}
    return _ok(answer)


def record(state: SandboxState, request: Request, body: Any) -> Response:
    """`GET /api/v2/<plural>/{id}`: `{data: {...}}`, or 404 resourceNotFound."""
    resource = _resource(request)
    fields = parse_query(resource, request).fields
    row = read_one(state, resource, request.path_params["id"])
    return _ok({"data": to_json(resource, row, _base(request), fields)})


def create_sequence_state(state: SandboxState, request: Request, body: Any) -> Response:
    """`POST /api/v2/sequenceStates` with `{"data": {"type": "sequenceState",
    "relationships": {"prospect": {"data": {"type": "prospect", "id": 1}}, "sequence":
    {...}, "mailbox": {...}}}}`: 201 with the new sequence state, or 422 validationError
    (a prospect already in the sequence, opted out or bounced, no mailbox), 404 for a
    prospect, sequence or mailbox that does not exist (JSON:API 1.0, "a related resource
    that does not exist", https://jsonapi.org/format/1.0/#crud-creating-responses-404)."""
    if request.query_params:
        raise bad_request("this request takes no query parameters")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or data.get("type") != "sequenceState":
        raise _invalid("data must be a resource object of type sequenceState", "/data")
    unknown = sorted(set(data) - {"type", "attributes", "relationships"})
    if unknown:
        raise _invalid(f"{', '.join(unknown)} may not be given when creating", "/data")
    for name in data.get("attributes") or {}:
        raise _invalid(f"{name} is read-only", f"/data/attributes/{name}")
    relationships = data.get("relationships") or {}
    ids: dict[str, int] = {}
    for name, value in relationships.items():
        if name not in CREATE_RELATIONSHIPS:
            raise _invalid(f"{name} cannot be set", f"/data/relationships/{name}")
        target = value.get("data") if isinstance(value, dict) else None
        if (not isinstance(target, dict) or target.get("type") != CREATE_RELATIONSHIPS[name]
                or not str(target.get("id", "")).isdigit()):
            raise _invalid(f"{name} must be {{\"data\": {{\"type\": "
                           f"\"{CREATE_RELATIONSHIPS[name]}\", \"id\": <id>}}}}",
                           f"/data/relationships/{name}")
        ids[name] = int(target["id"])
    for name in CREATE_RELATIONSHIPS:
        if name not in ids:
            raise _invalid(f"{name.capitalize()} can't be blank", f"/data/relationships/{name}")
    people.mirrored(state, SEQUENCER)
    prospect = people.person(state, SEQUENCER, str(ids["prospect"]))
    if prospect is None:
        raise not_found("prospect", ids["prospect"])
    sequence_id = _sequence_of(state, ids["sequence"])
    mailbox = state.rows("select email from sb_senders where sequencer = ? and id = ?",
                         [SEQUENCER, ids["mailbox"]])
    if not mailbox:
        raise not_found("mailbox", ids["mailbox"])
    if prospect["bounced"]:
        raise _invalid("Prospect's email address has bounced", "/data/relationships/prospect")
    try:
        row = sequencer.enroll(state, crm=SEQUENCER, contact_id=str(ids["prospect"]),
                               sequence_id=sequence_id, sender=mailbox[0]["email"])
    except sequencer.EnrollmentRefused as refused:
        detail = {"CONTACT_UNSUBSCRIBED": "Prospect has opted out of email",
                  "ALREADY_ENROLLED": "Prospect is already in an active sequence"}.get(
            refused.code, refused.message)
        raise _invalid(detail, "/data/relationships/prospect") from None
    created = read_one(state, SEQUENCE_STATES, str(row["id"]))
    return _ok({"data": to_json(SEQUENCE_STATES, created, _base(request))}, 201)


def act(state: SandboxState, request: Request, body: Any) -> Response:
    """`POST /api/v2/sequenceStates/{id}/actions/{finish|pause|resume}`: 200 with the
    sequence state after the action, 404 for an unknown one, 422 when its state does not
    allow the action; an action given query parameters it does not take is 400 ("Making
    requests", Other Actions on a Resource)."""
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise OutreachError(404, "resourceNotFound", "Resource Not Found",
                            f"Could not find the action '{action}' of sequenceState.")
    if request.query_params or body:
        raise bad_request(f"the {action} action takes no parameters")
    current = read_one(state, SEQUENCE_STATES, request.path_params["id"])
    states, to_state = ACTIONS[action]
    if current["state"] not in states:
        raise _invalid(f"Cannot {action} a sequence state that is {current['state']}",
                       "/data/attributes/state")
    with state.transaction() as con:
        sequencer.apply_state_changes(
            con, crm=SEQUENCER, to_state=to_state, now=state.now(),
            targets=[{"contact_id": str(current["prospect_id"]),
                      "sequence_id": _sequence_of(state, current["sequence_id"]),
                      "reason": f"{action} (Outreach API)"}])
    after = read_one(state, SEQUENCE_STATES, request.path_params["id"])
    return _ok({"data": to_json(SEQUENCE_STATES, after, _base(request))})


def _sequence_of(state: SandboxState, outreach_id: int) -> str:
    """The shared sequencer's sequence behind an Outreach sequence id."""
    rows = state.rows(f"select id from sb_sequences where {seq_num_sql('id')} = ? "
                      "order by id limit 1", [outreach_id])
    if not rows:
        raise not_found("sequence", outreach_id)
    return rows[0]["id"]


def _invalid(detail: str, pointer: str) -> OutreachError:
    # "Making requests", Create a New Resource: 422 validationError with source.pointer
    return OutreachError(422, "validationError", "Validation Error", detail, pointer)

