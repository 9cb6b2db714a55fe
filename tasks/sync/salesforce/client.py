"""Salesforce over HTTP: simple-salesforce on a session bound to the shared limiter.

Describe and the credential check go through simple-salesforce; query pages (queryAll,
then each `nextRecordsUrl`) are read on the same session and handed back as raw JSON
text, since DuckDB parses them in bulk (simple-salesforce would build an OrderedDict per
record).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import orjson
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from tasks.core.config import SalesforceConfig
from tasks.core.errors import ConfigError, SyncError
from tasks.sync.limiter import RateLimiter, limited_session
from tasks.sync.salesforce import settings

SESSION_SETTING = "crms.salesforce.session"
URL_SETTING = "crms.salesforce.url"


class SalesforceClient:
    """One Salesforce org: resolves the session once, then describes and queries."""

    def __init__(self, config: SalesforceConfig, limiter: RateLimiter,
                 pool_size: int = settings.MAX_CONCURRENCY * 2) -> None:
        if not config.url:
            raise ConfigError(f"{URL_SETTING}: no instance URL; set it in seqguard.yml "
                              "(e.g. https://yourorg.my.salesforce.com)")
        session_id = config.session.resolve(SESSION_SETTING)
        self.instance = config.url.rstrip("/")
        self.limiter = limiter
        self._counts = threading.local()  # calls per thread, so each object counts its own
        self.session = limited_session(limiter, config.ca_cert, pool_size=pool_size)
        self.sf = Salesforce(instance_url=self.instance, session_id=session_id,
                             session=self.session, version=config.api_version)

    def _count(self) -> None:
        self._counts.n = getattr(self._counts, "n", 0) + 1

    def requests_made(self) -> int:
        """API calls this thread has made through the client (retries not counted)."""
        return getattr(self._counts, "n", 0)

    def describe(self, sobject: str) -> dict[str, Any]:
        """The sObject's describe: fields with their types and picklist values."""
        self._count()
        try:
            return getattr(self.sf, sobject).describe()
        except (SalesforceExpiredSession, SalesforceAuthenticationFailed) as exc:
            raise ConfigError(
                f"Salesforce rejected the session ({_detail(exc)}); set {SESSION_SETTING} "
                "(SEQGUARD_SALESFORCE_SESSION) to a valid session id or token"
            ) from exc
        except SalesforceResourceNotFound as exc:
            raise ConfigError(
                f"Salesforce has no sObject {sobject} ({_detail(exc)}); check {URL_SETTING} "
                "and that the org has the feature (Sales Engagement for cadences)"
            ) from exc
        except SalesforceRefusedRequest as exc:
            raise SyncError(f"Salesforce refused describe of {sobject} ({_detail(exc)}); "
                            "check the user's permissions and API limits") from exc
        except SalesforceError as exc:
            raise SyncError(f"Salesforce answered an error to describe of {sobject} "
                            f"({_detail(exc)}); retry the sync later") from exc
        except requests.RequestException as exc:
            raise self._unreachable(exc) from exc

    def query_all_pages(self, soql: str) -> Iterator[tuple[str, int]]:
        """Every batch of a `queryAll` (deleted rows included): (body, record count)."""
        headers = {**self.sf.headers,
                   "Sforce-Query-Options": f"batchSize={settings.BATCH_SIZE}"}
        body, page = self._get(self.sf.base_url + settings.QUERY_ALL_PATH, headers,
                               params={"q": soql})
        while True:
            yield body, len(page.get("records") or [])
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            body, page = self._get(self.instance + next_url, headers)

    def _get(self, url: str, headers: dict[str, str],
             params: dict[str, str] | None = None) -> tuple[str, dict]:
        self._count()
        try:
            response = self.session.get(url, headers=headers, params=params,
                                        timeout=settings.REQUEST_TIMEOUT)
        except requests.RequestException as exc:
            raise self._unreachable(exc) from exc
        if response.status_code == 401:
            raise ConfigError(f"Salesforce rejected the session ({_body_detail(response)}); "
                              f"set {SESSION_SETTING} to a valid session id or token")
        if response.status_code != 200:
            raise SyncError(f"Salesforce answered {response.status_code} to a query "
                            f"({_body_detail(response)}); retry the sync later")
        return response.text, orjson.loads(response.content)

    def _unreachable(self, exc: Exception) -> ConfigError:
        return ConfigError(
            f"Salesforce is unreachable at {self.instance} ({type(exc).__name__}); check "
            f"{URL_SETTING} and crms.salesforce.ca_cert, and that the network allows it"
        )


def _detail(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return f"{content[0].get('errorCode')}: {content[0].get('message')}"[:160]
    return f"{exc.status}"


def _body_detail(response: requests.Response) -> str:
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:120].replace("\n", " ")
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return f"{data[0].get('errorCode')}: {data[0].get('message')}"[:160]
    return str(data)[:120]
