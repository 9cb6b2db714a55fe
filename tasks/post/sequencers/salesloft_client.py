"""Salesloft REST API v2 over HTTPS: auth, the team's cost-based rate limit, paging and
the documented error envelope, for the adapter in salesloft.py.

- Auth: `Authorization: Bearer <API key or OAuth token>`
  (https://developers.salesloft.com/docs/platform/api-basics/api-key-authentication/).
- Rate limit ("Rate Limits", https://developers.salesloft.com/docs/platform/api-basics/rate-limits/):
  600 cost per minute per team, 1 per request by default, more for deep pages (page 101-150:
  3, 151-250: 8, 251-500: 10, 501+: 30); 429 past it; each answer carries
  `x-ratelimit-endpoint-cost` and `x-ratelimit-remaining-minute`. No Retry-After is
  documented, so a 429 waits for the next minute by the server's clock (its `Date`). Every
  request draws from one limiter of 60 s windows sized to the limit; a deep page draws its
  extra cost too.
- Lists answer `{"metadata": {"paging": {"next_page", ...}}, "data": [...]}`; `page` counts
  from 1, `per_page` up to 100 ("Filtering, Paging, Sorting",
  https://developers.salesloft.com/docs/platform/api-basics/filtering-paging-sorting/).
  Changes are read with the cursor poller Salesloft recommends over deep pages ("Building
  an Efficient Cursor Poller",
  https://developers.salesloft.com/docs/platform/guides/building-an-efficient-cursor-poller/):
  sorted by updated_at ascending, `updated_at[gte]` moved to the last record's updated_at.
- Array filters are sent as the API definition spells them (`style: form, explode: false`:
  `ids=1,2,3`; developers.salesloft.com/v2_api_def.json).
- Errors: `{"error": "..."}` (403, 404) or `{"errors": {field: [messages]}}` (422)
  ("Request & Response Format",
  https://developers.salesloft.com/docs/platform/api-basics/request-response-format/).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from tasks.core.config import SequencerConfig
from tasks.core.errors import ConfigError, SyncError
from tasks.post.sequencers import base
from tasks.post.sequencers.base import RateLimitExhausted
from tasks.sync.limiter import RateLimiter, limiter_for

NAME = "salesloft"
TOKEN_SETTING = "sequencers.salesloft.token"
RATE_LIMIT_PER_MINUTE = 600
WINDOW_SECONDS = 60.0
PER_PAGE = 100
# pages past 100 cost more than 1 (Rate Limits, "Parameter Based Rate Limits")
PAGE_COSTS = ((500, 30), (250, 10), (150, 8), (100, 3))
TIMEOUT = (10, 60)


def page_cost(page: int) -> int:
    return next((cost for above, cost in PAGE_COSTS if page > above), 1)


def iso(moment: datetime) -> str:
    """A naive UTC time as the iso8601 a filter takes, to the microsecond."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def csv(values: list[Any]) -> str:
    """An array filter's value (`explode: false`): the values joined by commas."""
    return ",".join(str(v) for v in values)


def error_line(response: requests.Response) -> str:
    """Salesloft's reason in one line: `error`, or each field with its messages."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if isinstance(body, dict) and isinstance(body.get("errors"), dict):
        parts = [f"{name} {'; '.join(str(m) for m in (msgs if isinstance(msgs, list) else [msgs]))}"
                 for name, msgs in body["errors"].items()]
        return f"HTTP {response.status_code}: {', '.join(parts)}"[:500]
    if isinstance(body, dict) and body.get("error"):
        return f"HTTP {response.status_code}: {str(body['error'])[:300]}"
    return f"HTTP {response.status_code}: {str(body)[:200]}"


def wait_for_next_minute(response: requests.Response) -> float:
    """Seconds until the minute after the one the 429 was answered in (server's `Date`,
    else this clock), plus a margin: the budget is "for the minute the request was made"."""
    try:
        second = parsedate_to_datetime(response.headers["Date"]).second
    except (KeyError, TypeError, ValueError):
        second = int(time.time()) % 60
    return 60.0 - second + 0.5


class SalesloftClient:
    """One team's API: thread-safe (base.Http), every call under the team's
    shared limiter."""

    def __init__(self, config: SequencerConfig, limiter: RateLimiter | None = None) -> None:
        token = config.token.resolve(TOKEN_SETTING)
        self.root = config.url.rstrip("/")
        limit = RATE_LIMIT_PER_MINUTE if config.rate_limit is None else config.rate_limit
        self.limiter = limiter or limiter_for(NAME, limit or None, period=WINDOW_SECONDS)
        self.http = base.Http(
            "Salesloft", self.limiter, config.ca_cert, base.bearer(token),
            lambda r: r.status_code == 429, TIMEOUT, wait_of=wait_for_next_minute)

    def session(self) -> requests.Session:
        return self.http.session()

    def call(self, method: str, path: str, *, idempotent: bool,
             params: dict[str, Any] | None = None) -> requests.Response:
        """One request (a read is retried on 5xx; a write raises OutcomeUnknown)."""
        for _ in range(page_cost(int((params or {}).get("page") or 1)) - 1):
            self.limiter.acquire()  # a deep page's extra cost, before its own slot
        return self.http.call(method, self.root + path, idempotent=idempotent, params=params)

    def read(self, path: str, params: dict[str, Any], what: str) -> dict[str, Any]:
        """A GET answered 200, as JSON; anything else fails the read, naming it."""
        response = self.call("GET", path, idempotent=True, params=params)
        if response.status_code == 200:
            body = response.json()
            if isinstance(body, dict):
                return body
        if response.status_code == 403:
            raise ConfigError(f"Salesloft refused to {what} ({error_line(response)}); give "
                              f"the API key in {TOKEN_SETTING} the scopes seqguard needs "
                              "(people, cadences, users, emails: read; cadence "
                              "memberships: write)")
        raise RateLimitExhausted(f"Salesloft answered {error_line(response)} to {what}; the "
                                 "changes stay pending for the next run")

    def pages(self, path: str, params: dict[str, Any], what: str,
              max_pages: int | None = None) -> Iterator[dict[str, Any]]:
        """Every record of a list, page by page (`metadata.paging.next_page`)."""
        page = 1
        while True:
            body = self.read(path, {**params, "per_page": PER_PAGE, "page": page}, what)
            yield from body.get("data") or []
            following = ((body.get("metadata") or {}).get("paging") or {}).get("next_page")
            if not following:
                return
            if max_pages is not None and page >= max_pages:
                raise SyncError(f"Salesloft answered more than {max_pages} pages to {what}: "
                                "its filter was not applied; nothing was read")
            page = int(following)

    def poll(self, path: str, params: dict[str, Any], since: datetime | None,
             what: str) -> Iterator[dict[str, Any]]:
        """Every record updated at or after `since` (all when None), oldest first, by
        moving `updated_at[gte]` to the last record's updated_at (a page whose records
        all share one updated_at is followed by the next page instead)."""
        cursor = iso(since) if since is not None else None
        page, at_cursor = 1, set()
        while True:
            query = {**params, "sort_by": "updated_at", "sort_direction": "ASC",
                     "per_page": PER_PAGE, "page": page}
            if cursor is not None:
                query["updated_at[gte]"] = cursor
            body = self.read(path, query, what)
            records = body.get("data") or []
            for record in records:
                if record.get("id") not in at_cursor:
                    yield record
            if not records or not ((body.get("metadata") or {}).get("paging")
                                   or {}).get("next_page"):
                return
            last = records[-1].get("updated_at")
            if last and last != cursor:
                cursor, page = last, 1
                at_cursor = {r.get("id") for r in records if r.get("updated_at") == last}
            else:
                page += 1
                at_cursor |= {r.get("id") for r in records}
