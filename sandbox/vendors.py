"""The vendor APIs the sandbox serves: where each one's paths start, the credential it
accepts and how it refuses, as the Gate (sandbox/app.py) needs them.

Each API is a module `sandbox/<module>.py` with `routes(state)`; a sequencer's module
also names its documented answers in `SHAPES` (a `Shapes`): its 401, its answer past the
rate limit, its 5xx, and the rate-limit headers it puts on every answer. A new vendor
plugs in by adding its module: the Gate and the app find it here by name. Until a
vendor's module gives its own shapes, the sandbox answers it with GENERIC_SHAPES, plain
JSON of its own that imitates nobody.

Credentials: each vendor is called the way it documents, with a sandbox credential of
its own (anything else gets that vendor's 401):
- HubSpot: `Authorization: Bearer sandbox-token` (private-app token);
- Salesforce: `Authorization: Bearer|OAuth sandbox-session` (session id);
- Outreach: `Authorization: Bearer sandbox-outreach` (OAuth access token,
  https://developers.outreach.io/api/getting-started/);
- Salesloft: `Authorization: Bearer sandbox-salesloft` (API key or OAuth token);
- Apollo: `X-Api-Key: sandbox-apollo` (a master API key; `sandbox-apollo-standard` is
  a standard one).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox.faults import (
    RateWindow,
    rate_limited_body,
    server_error_body,
    unauthorized_body,
)
from sandbox.state import SandboxState

# a vendor route's handler: the state, the request and its parsed body, the answer
Handler = Callable[[SandboxState, Request, Any], Response]


async def json_call(state: SandboxState, request: Request, handler: Handler,
                    not_json: Callable[[], Exception], errors: type[Exception],
                    answer: Callable[[Any], Response]) -> Response:
    """A vendor route's call: the JSON body parsed (a body that is not JSON gets the
    vendor's own answer), the handler run off the event loop, and the vendor's errors
    (`errors`) answered in its shape."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        return answer(not_json())
    try:
        return await run_in_threadpool(handler, state, request, body)
    except errors as error:
        return answer(error)

# (status, JSON body, extra headers)
Answer = tuple[int, Any, dict[str, str]]


def no_headers(window: RateWindow) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Shapes:
    """How one API answers what the Gate refuses, in its documented shapes."""

    unauthorized: Callable[[], Answer]
    rate_limited: Callable[[RateWindow], Answer]
    server_error: Callable[[], Answer]
    # headers on every answer while a rate limit applies (e.g. X-RateLimit-Remaining)
    rate_headers: Callable[[RateWindow], dict[str, str]] = no_headers


@dataclass(frozen=True)
class VendorApi:
    name: str
    prefixes: tuple[str, ...]
    module: str                     # sandbox.<module>: routes(state), SHAPES
    credential_header: str          # the request header carrying the credential
    accepted: tuple[str, ...]       # its values the sandbox accepts
    shapes: Shapes | None = field(default=None, compare=False)  # None: the module's

    def authorized(self, headers: dict[bytes, bytes]) -> bool:
        return headers.get(self.credential_header.encode(), b"").decode() in self.accepted


def retry_after_seconds(window: RateWindow) -> str:
    """Whole seconds until the window lets a call through again (at least 1)."""
    return str(max(1, math.ceil(window.reset_in)))


def _crm_shapes(api: str) -> Shapes:
    """HubSpot's and Salesforce's answers (sandbox/faults.py); HubSpot adds Retry-After."""

    def limited(window: RateWindow) -> Answer:
        status, body = rate_limited_body(api, window.limit)
        headers = ({"Retry-After": str(max(1, round(window.reset_in + 0.5)))}
                   if api == "hubspot" else {})
        return status, body, headers

    return Shapes(unauthorized=lambda: (*unauthorized_body(api), {}), rate_limited=limited,
                  server_error=lambda: (*server_error_body(api), {}))


GENERIC_SHAPES = Shapes(
    unauthorized=lambda: (401, {"error": "unauthorized (sandbox)"}, {}),
    rate_limited=lambda w: (429, {"error": "rate limited (sandbox)"},
                            {"Retry-After": retry_after_seconds(w)}),
    server_error=lambda: (503, {"error": "server error (sandbox fault)"}, {}),
)


def _sandbox_bearer(credential: str) -> tuple[str, ...]:
    return (f"Bearer {credential}",)


APIS: tuple[VendorApi, ...] = (
    VendorApi("hubspot", ("/crm/", "/automation/"), "hubspot_api", "authorization",
              ("Bearer sandbox-token", "OAuth sandbox-token"), _crm_shapes("hubspot")),
    VendorApi("salesforce", ("/services/",), "salesforce_api", "authorization",
              ("Bearer sandbox-session", "OAuth sandbox-session"), _crm_shapes("salesforce")),
    # https://api.outreach.io/api/v2/...
    VendorApi("outreach", ("/api/v2/",), "outreach_api", "authorization",
              _sandbox_bearer("sandbox-outreach")),
    # https://api.salesloft.com/v2/...
    VendorApi("salesloft", ("/v2/",), "salesloft_api", "authorization",
              _sandbox_bearer("sandbox-salesloft")),
    # https://api.apollo.io/api/v1/... (a master key, and a standard one that the
    # endpoints needing a master key refuse with 403: sandbox/apollo_api.py)
    VendorApi("apollo", ("/api/v1/",), "apollo_api", "x-api-key",
              ("sandbox-apollo", "sandbox-apollo-standard")),
)
BY_NAME = {api.name: api for api in APIS}


def api_of(path: str) -> VendorApi | None:
    """The vendor API a path belongs to, or None (the control API and anything else)."""
    return next((api for api in APIS if path.startswith(api.prefixes)), None)


def _module(api: VendorApi) -> ModuleType | None:
    """The API's module, or None while nobody has written it."""
    name = f"sandbox.{api.module}"
    return importlib.import_module(name) if importlib.util.find_spec(name) else None


def shapes_of(api: VendorApi) -> Shapes:
    if api.shapes is not None:
        return api.shapes
    module = _module(api)
    return getattr(module, "SHAPES", GENERIC_SHAPES) if module else GENERIC_SHAPES


def routes(state: SandboxState) -> list[BaseRoute]:
    """Every vendor API's routes, for the APIs whose module exists."""
    found: list[BaseRoute] = []
    for api in APIS:
        module = _module(api)
        if module is not None:
            found += module.routes(state)
    return found
