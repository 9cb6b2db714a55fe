"""One request budget per CRM, shared by every task in the process, and the retry policy.

CRMs limit requests per app, not per connection: HubSpot allows a number of requests in
any rolling 10-second window (100 by default for private apps), Salesforce a daily total.
So every thread that talks to a CRM draws from the same `RateLimiter`, fetched by name
from `limiter_for`. Retries (429, 5xx, timeouts) are urllib3's `Retry`, with exponential
backoff and jitter and `Retry-After` honoured; each retry draws from the budget too, and
a 429 pauses every thread of that CRM for the time the server asked for.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)


@dataclass
class RateLimiter:
    """At most `limit` requests in any rolling `period` seconds (None = unlimited).

    Thread-safe; `acquire` blocks until a slot is free. `pause` makes every caller wait
    (used when the server answers 429 despite the budget, e.g. another app shares it).
    """

    limit: int | None
    period: float = 10.0
    # a request is counted by the server when it arrives, a little after we send it:
    # keep the window this much longer so the two clocks never disagree into a 429
    margin: float = 0.25
    _stamps: deque[float] = field(default_factory=deque)
    _paused_until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0

    def acquire(self) -> None:
        """Wait for a free slot in the window, then take it."""
        started = time.monotonic()
        while True:
            with self._lock:
                now = time.monotonic()
                wait = self._paused_until - now
                if wait <= 0 and self.limit is not None:
                    window = self.period + self.margin
                    while self._stamps and self._stamps[0] <= now - window:
                        self._stamps.popleft()
                    if len(self._stamps) >= self.limit:
                        wait = self._stamps[0] + window - now
                if wait <= 0:
                    if self.limit is not None:
                        self._stamps.append(now)
                    self.requests += 1
                    self.waited_seconds += now - started
                    return
            time.sleep(min(wait, 1.0) + 0.001)

    def pause(self, seconds: float) -> None:
        """Hold every caller for `seconds` (a 429's Retry-After)."""
        with self._lock:
            self.rate_limited += 1
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


_LIMITERS: dict[str, RateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def configured_limiter(crm: str, configured: int | None, default: int | None) -> RateLimiter:
    """`crm`'s shared limiter at the configured size: None takes the CRM's default, 0 means
    no limit (a sandbox with limits off). Sync and poster both size it this way, so the
    one budget is never re-sized between them."""
    limit = default if configured is None else configured
    return limiter_for(crm, limit or None)


def limiter_for(crm: str, limit: int | None, period: float = 10.0) -> RateLimiter:
    """The process-wide limiter of `crm`; created on first use, re-sized if settings change."""
    with _REGISTRY_LOCK:
        limiter = _LIMITERS.get(crm)
        if limiter is None:
            limiter = _LIMITERS[crm] = RateLimiter(limit=limit, period=period)
        elif (limiter.limit, limiter.period) != (limit, period):
            limiter.limit, limiter.period = limit, period
        return limiter


class LimitedRetry(Retry):
    """urllib3 `Retry` whose every retry waits for the CRM's budget; 429s pause the CRM."""

    limiter: RateLimiter | None = None

    def new(self, **kw: Any) -> LimitedRetry:
        retry = super().new(**kw)
        retry.limiter = self.limiter
        return retry

    def increment(self, method: str | None = None, url: str | None = None, *args: Any,
                  **kwargs: Any) -> LimitedRetry:
        response = kwargs.get("response")
        if response is not None and response.status == 429 and self.limiter is not None:
            # everyone backs off, not just this thread: the window is shared
            self.limiter.pause(self.parse_retry_after(response.headers.get("Retry-After", "1")))
        return super().increment(method, url, *args, **kwargs)  # type: ignore[return-value]

    def sleep(self, response: Any = None) -> None:
        super().sleep(response)
        if self.limiter is not None:
            self.limiter.acquire()


def retry_policy(limiter: RateLimiter | None, total: int = 6, connect: int = 2) -> LimitedRetry:
    """Retry 429, 5xx, connection errors and timeouts with backoff + jitter, any method.

    POSTs are retried too: the CRM calls the sync makes with POST (search, batch read)
    only read. The last response is returned rather than raised, so callers can report it.
    """
    retry = LimitedRetry(
        # few connect retries: a wrong URL should fail in seconds, not minutes
        total=total, connect=connect, read=total, status=total, other=0,
        backoff_factor=0.25, backoff_max=8, backoff_jitter=0.5,
        status_forcelist=RETRY_STATUSES, allowed_methods=None,
        respect_retry_after_header=True, raise_on_status=False,
    )
    retry.limiter = limiter
    return retry


class LimitedAdapter(HTTPAdapter):
    """A requests adapter that takes a slot from the CRM's budget before each request."""

    def __init__(self, limiter: RateLimiter, retries: int = 6, pool_size: int = 8) -> None:
        self.limiter = limiter
        super().__init__(max_retries=retry_policy(limiter, retries), pool_connections=pool_size,
                         pool_maxsize=pool_size)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.limiter.acquire()
        return super().send(request, **kwargs)


def limited_session(limiter: RateLimiter, ca_cert: str | None, retries: int = 6,
                    pool_size: int = 8) -> requests.Session:
    """A requests session bound to a CRM's budget and retry policy, trusting `ca_cert`.

    `trust_env` is off so the machine's REQUESTS_CA_BUNDLE or proxy settings cannot
    override the certificate the configuration names.
    """
    session = requests.Session()
    session.trust_env = False
    if ca_cert:
        session.verify = ca_cert
    adapter = LimitedAdapter(limiter, retries=retries, pool_size=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
