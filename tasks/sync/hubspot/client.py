"""HubSpot over HTTP: auth, paging and the shared limiter.

Metadata (properties, owners) and the credential check go through hubspot-api-client.
Bulk pages (list, search, v4 association batch reads) use a requests session with the
same token, limiter and retry policy, and hand back the raw JSON text: the client's model
layer would build a Python object per record, and DuckDB parses the pages in bulk instead.

Paging follows the `paging.next.after` each response carries and hands it back as it
came: HubSpot documents it as an opaque cursor token, never a number to compute with.
Error bodies are read only for their documented `category`/`policyName` and the first
sentence of `message`, on one line (https://developers.hubspot.com/docs/api-reference/error-handling).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import hubspot
import orjson
import requests
from hubspot.crm.owners import ApiException as OwnersApiException
from hubspot.crm.properties import ApiException as PropertiesApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from tasks.core.config import HubSpotConfig
from tasks.core.errors import ConfigError, SyncError
from tasks.sync.hubspot import settings
from tasks.sync.limiter import RateLimiter, limited_session, retry_policy

TOKEN_SETTING = "crms.hubspot.token"
URL_SETTING = "crms.hubspot.url"
# what a category or policy name looks like; anything else in an error body is not shown
ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_.]{0,63}")


class HubSpotClient:
    """One HubSpot account: resolves and checks the token once, then serves pages."""

    def __init__(self, config: HubSpotConfig, limiter: RateLimiter,
                 pool_size: int = settings.MAX_CONCURRENCY * 2) -> None:
        token = config.token.resolve(TOKEN_SETTING)
        self._token = token  # only to keep it out of error messages that echo it
        self.base = config.url.rstrip("/")
        self.limiter = limiter
        self._counts = threading.local()  # calls per thread, so each object counts its own
        self.api = hubspot.HubSpot(access_token=token, host=self.base,
                                   ssl_ca_cert=config.ca_cert, retry=retry_policy(limiter))
        self.session = limited_session(limiter, config.ca_cert, pool_size=pool_size)
        self.session.headers.update({"Authorization": f"Bearer {token}",
                                     "Content-Type": "application/json",
                                     "Accept": "application/json"})

    # -- metadata, through the official client (and the credential check) --

    def _count(self) -> None:
        self._counts.n = getattr(self._counts, "n", 0) + 1

    def requests_made(self) -> int:
        """API calls this thread has made through the client (retries not counted)."""
        return getattr(self._counts, "n", 0)

    def properties(self, object_type: str) -> list[dict[str, Any]]:
        """Every property definition of an object: name, type, fieldType, options."""
        self.limiter.acquire()
        self._count()
        try:
            # live properties are the default (`archived` false): the SDK would send the
            # flag as Python spells it, "False"
            page = self.api.crm.properties.core_api.get_all(object_type=object_type)
        except PropertiesApiException as exc:
            raise self._api_error(exc.status, exc.body, f"properties of {object_type}") from exc
        except Urllib3Error as exc:
            raise self._unreachable(exc) from exc
        return [p.to_dict() for p in page.results]

    def owners(self) -> list[dict[str, Any]]:
        """Every owner (sales rep): id, email, first and last name."""
        owners: list[dict[str, Any]] = []
        after = None
        while True:
            self.limiter.acquire()
            self._count()
            try:
                page = self.api.crm.owners.owners_api.get_page(limit=500, after=after)
            except OwnersApiException as exc:
                raise self._api_error(exc.status, exc.body, "owners") from exc
            except Urllib3Error as exc:
                raise self._unreachable(exc) from exc
            owners += [o.to_dict() for o in page.results]
            if not (page.paging and page.paging.next and page.paging.next.after):
                return owners
            after = page.paging.next.after

    # -- bulk pages, raw JSON text --

    def list_pages(self, object_type: str, properties: list[str],
                   archived: bool = False) -> Iterator[tuple[str, int]]:
        """Every record of an object (or every archived one), one page body at a time.

        Yields (body, number of records); follows `paging.next.after` until it ends.
        """
        params: dict[str, Any] = {"limit": settings.LIST_PAGE_SIZE,
                                  "properties": ",".join(properties),
                                  "archived": "true" if archived else "false"}
        url = self.base + settings.LIST_PATH.format(object=object_type)
        while True:
            body, page = self._call("GET", url, f"list {object_type}", params=params)
            yield body, len(page.get("results") or [])
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            params["after"] = after

    def search(self, object_type: str, request: dict[str, Any]) -> tuple[str, dict]:
        """One search page: (body, parsed) for a `filterGroups`/`sorts`/`after` request."""
        url = self.base + settings.SEARCH_PATH.format(object=object_type)
        return self._call("POST", url, f"search {object_type}", data=orjson.dumps(request))

    def association_pages(self, from_type: str, to_type: str,
                          ids: list[str]) -> Iterator[str]:
        """Every association of these records, as raw v4 batch-read bodies.

        Up to 1,000 ids per read. A record with more associations than one page holds
        comes back with `paging.next.after`; its id with that cursor, as an input of the
        next read, fetches its next page, until no result carries paging. A per-input
        error other than "none found" fails the read: a record whose associations were
        not read must not lose the ones already stored.
        """
        url = self.base + settings.ASSOCIATIONS_PATH.format(from_type=from_type,
                                                            to_type=to_type)
        what = f"associations {from_type}->{to_type}"
        for start in range(0, len(ids), settings.ASSOCIATION_BATCH):
            inputs: list[dict[str, str]] = [
                {"id": i} for i in ids[start:start + settings.ASSOCIATION_BATCH]]
            while inputs:
                body, page = self._call("POST", url, what, data=orjson.dumps({"inputs": inputs}))
                self._check_batch_errors(page, what)
                yield body
                inputs = continuation_inputs(page)

    def _check_batch_errors(self, page: dict, what: str) -> None:
        failed = failed_inputs(page)
        if failed:
            raise SyncError(
                f"HubSpot could not read {len(failed)} input(s) of {what} "
                f"({self._detail(failed[0])}); retry the sync later")

    def _call(self, method: str, url: str, what: str, **kwargs: Any) -> tuple[str, dict]:
        self._count()
        try:
            response = self.session.request(method, url, timeout=settings.REQUEST_TIMEOUT,
                                            **kwargs)
        except requests.RequestException as exc:
            raise self._unreachable(exc) from exc
        # 207: a batch read where some inputs failed; the caller reads `errors`
        if response.status_code not in (200, 207):
            raise self._api_error(response.status_code, response.text, what)
        return response.text, orjson.loads(response.content)

    # -- errors: one line, naming the setting to fix, never the token --

    def _api_error(self, status: int | None, body: Any, what: str) -> ConfigError | SyncError:
        detail = self._detail(body)
        if status == 401:
            return ConfigError(
                f"HubSpot rejected the token ({detail}); set {TOKEN_SETTING} "
                "(SEQGUARD_HUBSPOT_TOKEN) to a valid private-app token"
            )
        if status == 403:
            return ConfigError(
                f"HubSpot refused {what} ({detail}); give the private app in {TOKEN_SETTING} "
                "the crm.objects.*.read and crm.schemas.*.read scopes"
            )
        if status == 429:
            return SyncError(
                f"HubSpot rate limit still exceeded after retries on {what} ({detail}); "
                "lower the sync's rate_limit_per_10s or wait for the daily limit to reset"
            )
        return SyncError(f"HubSpot answered {status} to {what} ({detail}); retry the sync later")

    def _detail(self, body: Any) -> str:
        """`error_detail`, with the token masked should the body echo it."""
        detail = error_detail(body)
        return detail.replace(self._token, "[token]") if self._token else detail

    def _unreachable(self, exc: Exception) -> ConfigError:
        reason = type(exc).__name__
        return ConfigError(
            f"HubSpot is unreachable at {self.base} ({reason}); check {URL_SETTING} "
            "and crms.hubspot.ca_cert, and that the network allows it"
        )


def failed_inputs(page: dict) -> list[Any]:
    """A 207's `errors` (HubSpot's `StandardError`: status, category, message, context,
    errors, links) other than "no associations": only the category is read."""
    return [e for e in page.get("errors") or []
            if not isinstance(e, dict) or e.get("category") != settings.NO_ASSOCIATIONS]


def continuation_inputs(page: dict) -> list[dict[str, str]]:
    """The next batch-read inputs: each result that has another page, as `{id, after}`
    with the cursor exactly as HubSpot sent it."""
    return [{"id": str(result["from"]["id"]), "after": str(result["paging"]["next"]["after"])}
            for result in page.get("results") or []
            if ((result.get("paging") or {}).get("next") or {}).get("after")]


def error_detail(body: Any) -> str:
    """The API's own short reason, on one line: `CATEGORY: first sentence of message`.

    HubSpot's error body documents `category` (429s also `policyName`) and `message`;
    every field may be missing. Nothing else of the body is shown, a body that is not
    JSON only by its size, and codes that do not look like codes not at all.
    """
    if isinstance(body, str | bytes):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            return f"a non-JSON body of {len(body)} bytes"
    if not isinstance(body, dict):
        return f"an unexpected {type(body).__name__} body"
    code = next((str(body[k]) for k in ("policyName", "category", "errorType")
                 if ERROR_CODE.fullmatch(str(body.get(k, "")))), "error")
    message = " ".join(str(body.get("message", "")).split())
    message = "".join(c for c in message if c.isprintable()).split(". ")[0][:120]
    return f"{code}: {message}" if message else code
