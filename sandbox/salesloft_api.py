"""Salesloft's REST API v2 over the shared sandbox sequencer.

Served as Salesloft documents them (the records and the listing rules in
sandbox/salesloft_resources.py; pages cited beside each shape):
- `GET /v2/{cadence_memberships,cadences,steps,users,people,activities/emails}` (the
  index endpoints) and `GET /v2/<name>/{id}`;
- `POST /v2/cadence_memberships?person_id=&cadence_id=[&user_id=][&step_id=]`: "Adds a
  person to a cadence. person_id and cadence_id are required ... user_id will default to
  the authenticated user"; `step_id`: "ID of the step on which the person should start
  the cadence" (the parameters are query parameters in Salesloft's API definition,
  developers.salesloft.com/v2_api_def.json, "Create a cadence membership";
  https://developers.salesloft.com/docs/api/cadence-memberships-create/);
- `DELETE /v2/cadence_memberships/{id}`: 204, "The person has been removed from the
  cadence successfully" (same definition, "Delete a cadence membership").
Each path is served with and without the `.json` suffix the definition spells.

Refusals: a person that does not exist is the 404 of "Add a person to a cadence" ("A
person was not found with the given id",
https://developers.salesloft.com/docs/api/1.0/public-api-v-1-person-cadence-memberships-create/);
a person who cannot be added is its 422 ("The person could not be added to the requested
cadence"), in v2's error envelope `{"errors": {field: [messages]}}`: already on the cadence
(the shared sequencer also refuses a person open on another cadence, stricter than
Salesloft), marked do not contact ("Setting this value to true prevents this person
from being ... added to a cadence", Person.do_not_contact), a cadence, user or step that
is not one of the team's.

Rate limit ("Rate Limits", https://developers.salesloft.com/docs/platform/api-basics/rate-limits/):
600 cost per minute per team, each request costing 1 by default; every answer carries
`x-ratelimit-endpoint-cost` and `x-ratelimit-remaining-minute`, and past the limit the
answer is 429. The page documents no Retry-After and no 429 body: the sandbox sends the
envelope's `{"error": ...}`, which seqguard does not read. (Deep pages' extra costs, 3 to
30 for pages past 100, are not counted here: seqguard's pollers stay on early pages.)
The sandbox's own truth (enrollment state, steps sent) stays behind `/_sandbox/`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import people, sequencer
from sandbox.faults import RateWindow
from sandbox.salesloft_resources import (
    BASE,
    LISTINGS,
    SEQUENCER,
    STEPS_SQL,
    SalesloftError,
    int_value,
    invalid,
    listing_answer,
    membership,
    membership_json,
    not_found,
    one_record,
)
from sandbox.state import SandboxState
from sandbox.vendors import Handler, Shapes, json_call


def _rate_headers(window: RateWindow) -> dict[str, str]:
    return {"x-ratelimit-endpoint-cost": "1",
            "x-ratelimit-remaining-minute": str(window.remaining)}


SHAPES = Shapes(
    # "Request & Response Format": `error`, the singular message of an error answer
    unauthorized=lambda: (401, {"error": "Not authorized"}, {}),
    rate_limited=lambda window: (429, {"error": "Rate limit exceeded"}, {}),
    server_error=lambda: (500, {"error": "Internal Server Error (sandbox fault)"}, {}),
    rate_headers=_rate_headers,
)

def routes(state: SandboxState) -> list[Route]:
    table: list[tuple[str, list[str], Handler]] = [
        (f"{BASE}/cadence_memberships", ["POST"], create_membership),
        (f"{BASE}/cadence_memberships/{{id:int}}", ["DELETE"], delete_membership),
    ]
    for name in LISTINGS:
        table.append((f"{BASE}/{name}", ["GET"], _index(name)))
        table.append((f"{BASE}/{name}/{{id:int}}", ["GET"], _show(name)))
    found = [Route(spelling, _endpoint(state, handler), methods=methods)
             for path, methods, handler in table
             for spelling in (f"{path}.json", path)]
    # anything else under /v2/: the documented 404 envelope, not the web server's text
    found.append(Route(f"{BASE}/{{rest:path}}", _endpoint(state, _unknown),
                       methods=["GET", "POST", "PUT", "DELETE", "PATCH"]))
    return found


def _endpoint(state: SandboxState, handler: Handler) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        return await json_call(state, request, handler,
                               lambda: invalid("base", "the request body is not JSON"),
                               SalesloftError, _answer)

    run.__name__ = handler.__name__
    return run


def _answer(error: SalesloftError) -> Response:
    return JSONResponse(error.body, status_code=error.status)


def _index(name: str) -> Handler:
    def index(state: SandboxState, request: Request, body: Any) -> Response:
        if LISTINGS[name].mirror:
            people.mirrored(state, SEQUENCER)
        return JSONResponse(listing_answer(state, request, name))

    return index


def _show(name: str) -> Handler:
    def show(state: SandboxState, request: Request, body: Any) -> Response:
        if LISTINGS[name].mirror:
            people.mirrored(state, SEQUENCER)
        return JSONResponse(one_record(state, request, name, request.path_params["id"]))

    return show


def _unknown(state: SandboxState, request: Request, body: Any) -> Response:
    raise not_found()


def _int_param(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    return None if text is None or text == "" else int_value(name, text)


# the shared sequencer's refusals, as the attribute and message of Salesloft's 422
REFUSALS = {
    "ALREADY_ENROLLED": ("person_id", "is already on a cadence"),
    "CONTACT_UNSUBSCRIBED": ("person_id", "is marked do not contact and cannot be added "
                                          "to a cadence"),
    "SEQUENCE_NOT_FOUND": ("cadence_id", "was not found"),
    "STEP_NOT_FOUND": ("step_id", "is not a step of this cadence"),
}


def create_membership(state: SandboxState, request: Request, body: Any) -> Response:
    """`POST /v2/cadence_memberships`: 200 `{"data": CadenceMembership}`, 404 for a person
    that does not exist, 422 for one that cannot be added."""
    person_id = _int_param(request, "person_id")
    cadence_id = _int_param(request, "cadence_id")
    missing = [n for n, v in (("person_id", person_id), ("cadence_id", cadence_id)) if v is None]
    if missing:
        raise SalesloftError(422, {"errors": {n: ["is required"] for n in missing}})
    user_id = _int_param(request, "user_id")
    step_id = _int_param(request, "step_id")
    if people.person(state, SEQUENCER, str(person_id)) is None:
        raise not_found(f"Person {person_id} was not found")
    sender = _user_email(state, user_id)
    start_step = _step_position(state, cadence_id, step_id)
    try:
        sequencer.enroll(state, crm=SEQUENCER, contact_id=str(person_id),
                         sequence_id=str(cadence_id), sender=sender, start_step=start_step)
    except sequencer.EnrollmentRefused as refused:
        attribute, message = REFUSALS.get(refused.code, ("base", refused.message))
        raise invalid(attribute, message) from None
    created = membership(state, person_id=person_id, cadence_id=cadence_id)
    if created is None:  # the enrollment was just made: a sandbox bug, said as a 500
        raise SalesloftError(500, {"error": "the membership just created is missing"})
    root = f"{request.url.scheme}://{request.url.netloc}"
    return JSONResponse({"data": membership_json(created, root)})


def delete_membership(state: SandboxState, request: Request, body: Any) -> Response:
    """`DELETE /v2/cadence_memberships/{id}`: 204 once the person is off the cadence; 404
    for no such membership, 422 for a person no longer on it (the membership remains,
    with currently_on_cadence false)."""
    found = membership(state, request.path_params["id"])
    if found is None:
        raise not_found()
    if not found["currently_on_cadence"]:
        raise invalid("base", "The person is not on this cadence")
    sequencer.change_states(state, crm=SEQUENCER, to_state="unenrolled", targets=[{
        "contact_id": str(found["person_id"]), "sequence_id": str(found["cadence_id"]),
        "reason": None}])
    return Response(status_code=204)


def _user_email(state: SandboxState, user_id: int | None) -> str | None:
    """The sender: the user named, else "the authenticated user" (the team's first)."""
    sql = ("select email from sb_senders where sequencer = $s and ($id is null or id = $id) "
           "order by id limit 1")
    rows = state.rows(sql, {"s": SEQUENCER, "id": user_id})
    if not rows:
        people.mirrored(state, SEQUENCER)  # owners new to the CRM since the last mirror
        rows = state.rows(sql, {"s": SEQUENCER, "id": user_id})
    if user_id is not None and not rows:
        raise invalid("user_id", "is not a visible user on the team")
    return rows[0]["email"] if rows else None


def _step_position(state: SandboxState, cadence_id: int, step_id: int | None) -> int | None:
    """The 1-based position of `step_id` in its cadence (the sequencer's start_step)."""
    if step_id is None:
        return None
    rows = state.rows(f"select k from ({STEPS_SQL}) where id = $id and cadence_id = $c",
                      {"id": step_id, "c": cadence_id})
    if not rows:
        raise invalid("step_id", "is not a step of this cadence")
    return int(rows[0]["k"])
