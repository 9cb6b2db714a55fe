"""HTTP to Apollo (REST API v1): the key, the shared rate budget, paging, one contact.

Authentication: the API key in the `X-Api-Key` header
(https://docs.apollo.io/docs/create-api-key); a 401 is a wrong key, a 403 a key that is
not a master key where the endpoint needs one ("Errors",
https://docs.apollo.io/reference/errors-1): both are configuration errors.

Rate limits ("Rate Limits", https://docs.apollo.io/reference/rate-limits): a fixed window
per minute, hour and day, by plan; for all other APIs than enrichment 200 a minute on
Basic, Organization and Professional, 400 an hour on Basic and Organization. Calls share
one limiter per process at the minute's limit (seqguard.yml `rate_limit`, default 200), so
a run bursts as fast as the minute allows; every answer says what is left of the hour and
the day (`x-hourly-requests-left`, `x-daily-requests-left`), and once either is 0 no
further call is made this run (Apollo would refuse each one with 429 until its window
turns): the changes stay pending for the next run. A 429 within the minute pauses every
caller (no Retry-After is documented: a sixth of the minute a time).

Paging: `page` and `per_page` (at most 100) in, `pagination.total_pages` out; a search
shows at most 500 pages (50,000 records).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from tasks.core.config import SequencerConfig
from tasks.core.errors import ConfigError
from tasks.post.sequencers import apollo_wire as wire
from tasks.post.sequencers import base
from tasks.post.sequencers.base import RateLimitExhausted
from tasks.sync.limiter import RateLimiter, limiter_for

TOKEN_SETTING = "sequencers.apollo.token_env"
RATE_LIMIT_PER_MINUTE = 200   # all other APIs, Basic to Professional ("Rate Limits")
WINDOW_SECONDS = 60.0         # the minute of Apollo's per-minute limit
PER_PAGE = 100                # "100 records per page, up to 500 pages"
MAX_PAGES = 500
READERS = 4                   # one-contact reads in flight at once (one shared budget)
TIMEOUT = (10, 60)
MASTER_KEY_FIX = ("the API key in sequencers.apollo must be a master key (Apollo > Settings > "
                  "Integrations > API Keys > Set as master key)")
PENDING = "the changes stay pending for the next run"


class ApolloClient:
    """Calls to one Apollo team; thread-safe (base.Http: a session per thread, one budget)."""

    def __init__(self, config: SequencerConfig, limiter: RateLimiter | None = None) -> None:
        key = config.token.resolve(TOKEN_SETTING)
        self.base = config.url.rstrip("/") + "/api/v1"
        limit = RATE_LIMIT_PER_MINUTE if config.rate_limit is None else config.rate_limit
        self.limiter = limiter or limiter_for("apollo", limit or None, WINDOW_SECONDS)
        self.http = base.Http("Apollo", self.limiter, config.ca_cert,
                              {"X-Api-Key": key, "Accept": "application/json"},
                              _minute_limited, TIMEOUT, wait_of=_minute_wait)
        self._lock = threading.Lock()
        self._spent: str | None = None   # the long window whose budget an answer used up

    def call(self, method: str, path: str, *, idempotent: bool,
             params: dict[str, Any] | None = None) -> requests.Response:
        """One call under the shared budget; parameters go in the query, as the reference
        lists them."""
        if self._spent:
            raise RateLimitExhausted(
                f"Apollo: the API budget is used up ({self._spent}: 0); {PENDING}")
        response = self.http.call(method, self.base + path, idempotent=idempotent,
                                  params=params)
        spent = wire.budget_spent(response)
        if spent:
            with self._lock:
                self._spent = spent
        if response.status_code == 403:
            raise ConfigError(f"Apollo refused {path.split('/')[1]} "
                              f"({wire.error_line(response)}); {MASTER_KEY_FIX}")
        if response.status_code == 429:
            raise RateLimitExhausted(
                f"Apollo: {wire.error_line(response)} ({spent}: 0); {PENDING}")
        return response

    def read(self, method: str, path: str, params: dict[str, Any] | None = None
             ) -> dict[str, Any]:
        return _answer(self.call(method, path, idempotent=True, params=params), path)

    def pages(self, method: str, path: str, key: str, params: dict[str, Any],
              first: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item under `key` of a paged search, from `first` (page 1, already read)
        on, up to `pagination.total_pages` (and Apollo's 500)."""
        page = 1
        body = first or self.read(method, path, {**params, "page": 1, "per_page": PER_PAGE})
        while True:
            yield from (i for i in body.get(key) or [] if isinstance(i, dict))
            total = int((body.get("pagination") or {}).get("total_pages") or 0)
            if page >= min(total, MAX_PAGES):
                return
            page += 1
            body = self.read(method, path, {**params, "page": page, "per_page": PER_PAGE})

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        """One contact ("View a Contact", https://docs.apollo.io/reference/view-a-contact);
        None when Apollo has no such contact."""
        response = self.call("GET", f"/contacts/{contact_id}", idempotent=True)
        if response.status_code in (404, 422):
            return None
        contact = _answer(response, "/contacts/{id}").get("contact")
        return contact if isinstance(contact, dict) else None


def _answer(response: requests.Response, path: str) -> dict[str, Any]:
    """A read's JSON object, or the error that stops the read."""
    try:
        body = response.json() if response.status_code == 200 else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RateLimitExhausted(
            f"Apollo answered {wire.error_line(response)} to a read of {path}; {PENDING}")
    return body


def parallel(fn: Callable[[str], Any], items: list[str]) -> list[Any]:
    """fn over items, READERS at a time (they share the one budget)."""
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return list(pool.map(fn, items))


def _minute_limited(response: requests.Response) -> bool:
    """A 429 that waiting out the minute cures (the hour's or day's budget is not spent)."""
    return response.status_code == 429 and wire.budget_spent(response) is None


def _minute_wait(response: requests.Response) -> float:
    """How long a 429 pauses every caller: Apollo documents no Retry-After; a sixth of its
    fixed one-minute window, so eight tries span more than a window."""
    return WINDOW_SECONDS / 6
