"""Injected faults, answered the way the real APIs answer them.

HubSpot's rate limit is a 10-second rolling window per app: 429 with the body of
https://developers.hubspot.com/docs/api/usage-details (`status`, `message`, `errorType`
RATE_LIMIT, `correlationId`, `policyName` TEN_SECONDLY_ROLLING or DAILY) plus the
`category` RATE_LIMITS that every HubSpot error body carries
(https://developers.hubspot.com/changelog/upcoming-changes-to-error-responses,
https://developers.hubspot.com/docs/api-reference/error-handling), and a Retry-After
header. Salesforce answers an exhausted limit with 403 REQUEST_LIMIT_EXCEEDED. Errors
are 5xx at a given rate; latency is added.

`rate_limit_per_10s` limits every API; `rate_limits` gives one API a limit and window of its
own (`{"outreach": {"limit": 10000, "window_s": 3600}}`), so a vendor's limit is imitated
at its documented size or at a scaled-down one a test can reach. How each vendor answers
past its limit, and the headers it puts on every answer, are its own (sandbox/vendors.py).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

WINDOW_SECONDS = 10.0


@dataclass(frozen=True)
class RateWindow:
    """One API's rate limit as a call finds it: `used` calls in the window (this one
    included when admitted), `reset_in` seconds until the oldest leaves it."""

    limit: int
    window_s: float
    used: int
    reset_in: float
    refused: bool

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


@dataclass
class Faults:
    rate_limit_per_10s: int | None = None
    # per-API limits overriding rate_limit_per_10s: api -> (limit, window in seconds)
    rate_limits: dict[str, tuple[int, float]] = field(default_factory=dict)
    error_rate: float = 0.0
    latency_ms: int = 0
    seed: int = 0
    # the sandbox's own hostile server, not a vendor shape: every error body (4xx and 5xx,
    # the Gate's and the routes') quotes the request's Authorization header, as a
    # misbehaving proxy or debug build might; seqguard must never pass that value on
    echo_authorization: bool = False
    _rng: random.Random = field(default_factory=random.Random)
    _calls: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, settings: dict) -> None:
        limit = settings.get("rate_limit_per_10s")
        self.rate_limit_per_10s = int(limit) if limit else None
        self.rate_limits = _per_api_limits(settings.get("rate_limits"))
        self.error_rate = float(settings.get("error_rate") or 0.0)
        self.latency_ms = int(settings.get("latency_ms") or 0)
        self.seed = int(settings.get("seed") or 0)
        self.echo_authorization = bool(settings.get("echo_authorization"))
        self._rng = random.Random(self.seed)
        self._calls = {}

    def as_dict(self) -> dict:
        return {
            "rate_limit_per_10s": self.rate_limit_per_10s,
            "rate_limits": {api: {"limit": limit, "window_s": window}
                            for api, (limit, window) in self.rate_limits.items()},
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms,
            "seed": self.seed,
            "echo_authorization": self.echo_authorization,
        }

    def window(self, api: str) -> tuple[int, float] | None:
        """`api`'s limit and window in seconds, or None when it has no limit."""
        if api in self.rate_limits:
            return self.rate_limits[api] if self.rate_limits[api][0] else None
        return (self.rate_limit_per_10s, WINDOW_SECONDS) if self.rate_limit_per_10s else None

    def check(self, api: str) -> RateWindow | None:
        """Count a call to `api` against its rolling window (a refused call is not
        counted); None when `api` has no limit."""
        limit_window = self.window(api)
        if limit_window is None:
            return None
        limit, window = limit_window
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(api, deque())
            while calls and calls[0] <= now - window:
                calls.popleft()
            refused = len(calls) >= limit
            if not refused:
                calls.append(now)
            reset_in = calls[0] + window - now if calls else window
            return RateWindow(limit, window, len(calls), max(0.0, reset_in), refused)

    def should_fail(self) -> bool:
        with self._lock:
            return self.error_rate > 0 and self._rng.random() < self.error_rate


def _per_api_limits(spec: Any) -> dict[str, tuple[int, float]]:
    """`{api: {"limit": n, "window_s": s}}` as (limit, window) per API; a limit of 0 or
    null leaves that API unlimited, whatever rate_limit_per_10s says."""
    if not spec:
        return {}
    if not isinstance(spec, dict):
        raise ValueError('rate_limits: send {"<api>": {"limit": n, "window_s": seconds}}')
    limits = {}
    for api, item in spec.items():
        if not isinstance(item, dict) or float(item.get("window_s") or 0) <= 0:
            raise ValueError(f"rate_limits.{api}: send {{\"limit\": n, \"window_s\": seconds}}"
                             " with a window of more than 0 seconds")
        limits[str(api)] = (int(item.get("limit") or 0), float(item["window_s"]))
    return limits


def echoed(body: Any, authorization: str) -> Any:
    """An error body whose message(s) start by quoting the Authorization header."""
    echo = f"Authorization: {authorization} was refused; "
    if isinstance(body, dict) and "message" in body:
        return {**body, "message": echo + str(body["message"])}
    if isinstance(body, dict) and isinstance(body.get("error"), str):  # Salesloft's `error`
        return {**body, "error": echo + body["error"]}
    if isinstance(body, dict) and isinstance(body.get("errors"), dict):  # and its `errors`
        return {**body, "errors": {k: [echo + str(m) for m in (v if isinstance(v, list) else [v])]
                                   for k, v in body["errors"].items()}}
    if isinstance(body, list):
        return [echoed(item, authorization) for item in body]
    return body


def rate_limited_body(api: str, limit: int) -> tuple[int, object]:
    if api == "hubspot":
        return 429, {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": "TEN_SECONDLY_ROLLING",
            "category": "RATE_LIMITS",
        }
    return 403, [
        {
            "message": f"TotalRequests Limit exceeded ({limit} per 10 s in the sandbox).",
            "errorCode": "REQUEST_LIMIT_EXCEEDED",
        }
    ]


def server_error_body(api: str) -> tuple[int, object]:
    if api == "hubspot":
        return 502, {
            "status": "error",
            "message": "Bad Gateway (sandbox fault)",
            "correlationId": str(uuid.uuid4()),
            "category": "INTERNAL_ERROR",
        }
    return 503, [
        {
            "message": "Server temporarily unavailable (sandbox fault)",
            "errorCode": "SERVER_UNAVAILABLE",
        }
    ]


def unauthorized_body(api: str) -> tuple[int, object]:
    if api == "hubspot":
        return 401, {
            "status": "error",
            "message": "Authentication credentials not found. This API supports OAuth 2.0 "
            "authentication and you can find more details at "
            "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            "correlationId": str(uuid.uuid4()),
            "category": "INVALID_AUTHENTICATION",
        }
    return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
