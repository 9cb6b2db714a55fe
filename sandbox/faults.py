"""Injected faults, answered the way the real APIs answer them.

HubSpot's rate limit is a 10-second rolling window per app: 429 with the body of
https://developers.hubspot.com/docs/api/usage-details (`status`, `message`, `errorType`
RATE_LIMIT, `correlationId`, `policyName` TEN_SECONDLY_ROLLING or DAILY) plus the
`category` RATE_LIMITS that every HubSpot error body carries
(https://developers.hubspot.com/changelog/upcoming-changes-to-error-responses,
https://developers.hubspot.com/docs/api-reference/error-handling), and a Retry-After
header. Salesforce answers an exhausted limit with 403 REQUEST_LIMIT_EXCEEDED. Errors
are 5xx at a given rate; latency is added.
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


@dataclass
class Faults:
    rate_limit_per_10s: int | None = None
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
        self.error_rate = float(settings.get("error_rate") or 0.0)
        self.latency_ms = int(settings.get("latency_ms") or 0)
        self.seed = int(settings.get("seed") or 0)
        self.echo_authorization = bool(settings.get("echo_authorization"))
        self._rng = random.Random(self.seed)
        self._calls = {}

    def as_dict(self) -> dict:
        return {
            "rate_limit_per_10s": self.rate_limit_per_10s,
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms,
            "seed": self.seed,
            "echo_authorization": self.echo_authorization,
        }

    def retry_after(self, api: str) -> float | None:
        """Seconds until `api` may call again, or None when this call is within the limit."""
        if not self.rate_limit_per_10s:
            return None
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(api, deque())
            while calls and calls[0] <= now - WINDOW_SECONDS:
                calls.popleft()
            if len(calls) >= self.rate_limit_per_10s:
                return calls[0] + WINDOW_SECONDS - now
            calls.append(now)
            return None

    def should_fail(self) -> bool:
        with self._lock:
            return self.error_rate > 0 and self._rng.random() < self.error_rate


def echoed(body: Any, authorization: str) -> Any:
    """An error body whose message(s) start by quoting the Authorization header."""
    echo = f"Authorization: {authorization} was refused; "
    if isinstance(body, dict) and "message" in body:
        return {**body, "message": echo + str(body["message"])}
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
