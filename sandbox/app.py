"""The sandbox web app: the vendor APIs (HubSpot, Salesforce and the sequencers of
sandbox/vendors.py) behind real-looking auth, faults, a request log, and the `/_sandbox/`
control API of DESIGN."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox import (
    activity,
    generate,
    hubspot_api,
    hubspot_workflow,
    salesforce_api,
    sequencer,
    vendors,
)
from sandbox.faults import Faults, RateWindow, echoed
from sandbox.state import SandboxState, parse_time
from sandbox.vendors import api_of


def jsonable(value: Any) -> Any:
    """Datetimes as ISO-8601 UTC strings, recursively."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def reply(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(jsonable(value), status_code=status)


class Gate:
    """ASGI middleware: auth, injected faults and the request log for API paths."""

    def __init__(self, app: ASGIApp, state: SandboxState, faults: Faults, log: list) -> None:
        self.app, self.state, self.faults, self.log = app, state, faults, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (api := api_of(scope["path"])) is None:
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode()
        entry = {
            "time": jsonable(self.state.now()),
            "wall_time": jsonable(datetime.now(UTC).replace(tzinfo=None)),
            "api": api.name,
            "method": scope["method"],
            "path": scope["path"] + (f"?{query}" if query else ""),
            "status": None,
        }
        self.log.append(entry)
        sequencer.follow_wall_clock(self.state)
        headers = dict(scope["headers"])
        if self.faults.echo_authorization:
            send = echoing_errors(send, headers.get(b"authorization", b"").decode())
        shapes = vendors.shapes_of(api)
        window: RateWindow | None = None
        if not api.authorized(headers):
            rejection: Response | None = answer(shapes.unauthorized())
        else:
            window = self.faults.check(api.name)
            rejection = self._reject(shapes, window)
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        if rejection is not None:
            entry["status"] = rejection.status_code
            await rejection(scope, receive, send)
            return
        extra = [(k.lower().encode(), v.encode())
                 for k, v in (shapes.rate_headers(window) if window else {}).items()]

        async def logging_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                if extra:
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, logging_send)

    def _reject(self, shapes: vendors.Shapes, window: RateWindow | None) -> Response | None:
        """The vendor's answer past its rate limit, or to an injected server error."""
        if window is not None and window.refused:
            status, body, headers = shapes.rate_limited(window)
            return JSONResponse(body, status_code=status,
                                headers={**headers, **shapes.rate_headers(window)})
        if self.faults.should_fail():
            return answer(shapes.server_error())
        return None


def answer(shaped: vendors.Answer) -> JSONResponse:
    status, body, headers = shaped
    return JSONResponse(body, status_code=status, headers=headers)


def echoing_errors(send: Send, authorization: str) -> Send:
    """`send` for the echo_authorization fault: a JSON error body (status >= 400) is held
    until complete, then sent with the Authorization header quoted in its message."""
    held: dict[str, Any] = {}

    async def echoing_send(message: dict) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            held["start"], held["body"] = message, b""
            return
        if message["type"] != "http.response.body" or "start" not in held:
            await send(message)
            return
        held["body"] += message.get("body", b"")
        if message.get("more_body"):
            return
        try:
            body = json.dumps(echoed(json.loads(held["body"]), authorization)).encode()
        except ValueError:
            body = held["body"]
        start = held.pop("start")
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return echoing_send


async def body_of(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw else {}


def control_routes(state: SandboxState, faults: Faults, log: list) -> list[Route]:
    """The `/_sandbox/` endpoints tests and benchmarks drive the sandbox with."""

    async def reset(request: Request) -> Response:
        spec = await body_of(request)
        state.reset_schema()
        faults.configure({})
        log.clear()
        if spec.get("now"):
            state.set_clock(parse_time(spec["now"]))
        generate.seed_metadata(state)
        if spec.get("contacts"):
            generate.generate(
                state,
                seed=int(spec.get("seed", 0)),
                contacts=int(spec["contacts"]),
                companies=spec.get("companies"),
                deals=spec.get("deals"),
            )
        if spec.get("enrollments"):
            from sandbox.demo import enroll_demo

            enroll_demo(state, int(spec["enrollments"]))
        counts = {
            t: state.rows(f"select count(*) as n from {t}")[0]["n"]
            for t in (
                "hs_contacts",
                "hs_companies",
                "hs_deals",
                "sf_contact",
                "sf_lead",
                "sf_account",
                "sf_opportunity",
            )
        }
        return reply({"ok": True, "counts": counts})

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            state.set_clock(parse_time((await body_of(request))["now"]))
            sent = sequencer.tick(state)
            return reply({"now": state.now(), "steps_sent": sent})
        return reply({"now": state.now()})

    async def hubspot_upsert(request: Request) -> Response:
        obj = request.path_params["object"]
        records = await body_of(request)
        if obj == "associations":
            hubspot_api.associate(state, records)
            return reply({"ok": True, "count": len(records)})
        return reply({"results": hubspot_api.upsert_records(state, obj, records)})

    async def hubspot_workflow_settings(request: Request) -> Response:
        """The HubSpot unenroll workflow: `{"lag_minutes": N}` (null = it never runs)."""
        if request.method == "POST":
            spec = await body_of(request)
            if not isinstance(spec, dict) or "lag_minutes" not in spec:
                raise ValueError('send {"lag_minutes": N} (minutes, or null: never runs)')
            with state.transaction() as con:
                hubspot_workflow.set_lag_minutes(con, spec["lag_minutes"])
        with state.lock:
            return reply({"lag_minutes": hubspot_workflow.lag_minutes(state.con)})

    async def salesforce_upsert(request: Request) -> Response:
        records = await body_of(request)
        return reply(
            {
                "results": salesforce_api.upsert_records(
                    state, request.path_params["sobject"], records
                )
            }
        )

    async def sequences(request: Request) -> Response:
        if request.method == "POST":
            sequencer.define_sequences(state, await body_of(request))
        return reply(sequencer.list_sequences(state))

    async def enrollments(request: Request) -> Response:
        return reply(
            state.rows(
                """select email, contact_id, sequence_id, state, step, reason, enrolled_at,
                      updated_at, crm, id from sb_enrollments order by id"""
            )
        )

    async def fault_settings(request: Request) -> Response:
        if request.method == "POST":
            faults.configure(await body_of(request))
        return reply(faults.as_dict())

    async def requests_log(request: Request) -> Response:
        since = int(request.query_params.get("since", 0))
        return reply([{"index": i, **e} for i, e in enumerate(log[since:], start=since)])

    async def clear_requests(request: Request) -> Response:
        log.clear()
        return reply({"ok": True})

    async def sent(request: Request) -> Response:
        return reply(
            state.rows(
                """select t.email, t.sequence_id, s.name as sequence, t.step, t.sent_at as time,
                      t.enrollment_id from sb_sent t join sb_sequences s on s.id = t.sequence_id
               order by t.sent_at, t.enrollment_id"""
            )
        )

    async def sequencer_events(request: Request) -> Response:
        """What recipients did at a sequencer of its own (sandbox/activity.py): POST
        `[{sequencer, email, kind, at?}]` records and applies them; GET lists the activity
        every such sequencer recorded, its sends included."""
        if request.method == "POST":
            return reply(activity.record_events(state, await body_of(request)))
        return reply(state.rows("select * from sb_activity order by id"))

    async def events(request: Request) -> Response:
        return reply(state.rows("select * from sb_events order by happened_at"))

    async def table(request: Request) -> Response:
        name = request.path_params["name"]
        known = {
            r["table_name"]
            for r in state.rows("select table_name from duckdb_tables() where schema_name = 'main'")
        }
        if name not in known:
            return reply(
                {
                    "error": "UNKNOWN_TABLE",
                    "message": f"no sandbox table {name}",
                    "tables": sorted(known),
                },
                404,
            )
        return reply(state.rows(f'select * from "{name}"'))

    return [
        Route("/_sandbox/table/{name}", table, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
        Route("/_sandbox/hubspot/workflow", hubspot_workflow_settings, methods=["GET", "POST"]),
        Route("/_sandbox/hubspot/{object}", hubspot_upsert, methods=["POST"]),
        Route("/_sandbox/salesforce/{sobject}", salesforce_upsert, methods=["POST"]),
        Route("/_sandbox/sequences", sequences, methods=["GET", "POST"]),
        Route("/_sandbox/enrollments", enrollments, methods=["GET"]),
        Route("/_sandbox/faults", fault_settings, methods=["GET", "POST"]),
        Route("/_sandbox/requests", requests_log, methods=["GET"]),
        Route("/_sandbox/requests/clear", clear_requests, methods=["POST"]),
        Route("/_sandbox/sent", sent, methods=["GET"]),
        Route("/_sandbox/sequencer/events", sequencer_events, methods=["GET", "POST"]),
        Route("/_sandbox/events", events, methods=["GET"]),
    ]


def control_errors(request: Request, exc: Exception) -> Response:
    """Bad control input answers 400 with the reason, never a bare 500."""
    if isinstance(exc, sequencer.EnrollmentRefused):
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=400)
    return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=400)


def build_app(state: SandboxState | None = None) -> ASGIApp:
    """The whole sandbox app over one state (a fresh, empty one by default)."""
    state = state or SandboxState()
    generate.seed_metadata(state)
    faults, log = Faults(), []
    routes = control_routes(state, faults, log) + vendors.routes(state)
    app = Starlette(
        routes=routes,
        exception_handlers={
            ValueError: control_errors,
            KeyError: control_errors,
            sequencer.EnrollmentRefused: control_errors,
        },
    )
    app.state.sandbox = state
    return Gate(app, state, faults, log)
