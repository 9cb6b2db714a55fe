"""Salesforce Sales Engagement (cadences) behind the Sequencer protocol.

Changes go through the standard invocable actions (`assignTargetToSalesCadence`, which
can start at a given step, `removeTargetFromSalesCadence`, `pauseSalesCadenceTracker`,
`resumeSalesCadenceTracker`), up to 200 inputs per call; the answer has one element per
input, so one target's refusal does not fail its batch. State comes from
ActionCadenceTracker over SOQL, which can be read incrementally (SystemModstamp) and by
target, 200 targets per query.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import requests

from tasks.config import SalesforceConfig
from tasks.crm.limiter import RateLimiter, configured_limiter, limited_session
from tasks.crm.salesforce import settings as sync_settings
from tasks.errors import ConfigError
from tasks.sequencers.base import (
    ENROLLMENT_SCHEMA,
    SEQUENCE_SCHEMA,
    OutcomeUnknown,
    RateLimitExhausted,
    results,
    same_outcome,
    send,
)

SESSION_SETTING = "crms.salesforce.session"
ACTION_INPUTS_MAX = 200       # Salesforce's limit per invocable-action call
IDS_PER_QUERY = 200           # keeps a SOQL `IN (...)` well inside the URL limit
TIMEOUT = (10, 120)

ACTIONS = {
    "enroll": "assignTargetToSalesCadence",
    "unenroll": "removeTargetFromSalesCadence",
    "pause": "pauseSalesCadenceTracker",
    "resume": "resumeSalesCadenceTracker",
}
TRACKER_FIELDS = ("Id", "ActionCadenceId", "TargetId", "State", "CompletionReason",
                  "CurrentStepNumber", "CreatedDate", "LastModifiedDate")
# Contact and Lead ids start with their key prefix; cadence targets are either
TARGET_OBJECTS = {"003": "Contact", "00Q": "Lead"}


class SalesforceSequencer:
    """Sales Engagement cadences of one org; thread-safe."""

    crm = "salesforce"
    traceable_kinds: frozenset[str] = frozenset()

    def __init__(self, config: SalesforceConfig, limiter: RateLimiter | None = None) -> None:
        if not config.url:
            raise ConfigError("crms.salesforce.url: not set; name the org's instance URL")
        session_id = config.session.resolve(SESSION_SETTING)
        self.base = f"{config.url.rstrip('/')}/services/data/v{config.api_version}/"
        self.root = config.url.rstrip("/")
        self.limiter = limiter or configured_limiter(
            "salesforce", config.rate_limit_per_10s, sync_settings.RATE_LIMIT_PER_10S)
        self._ca_cert = config.ca_cert
        self._auth = {"Authorization": f"Bearer {session_id}", "Accept": "application/json"}
        self._local = threading.local()
        self._count_lock = threading.Lock()
        self._users: dict[str, str | None] = {}
        self.requests_made = 0

    # ---- plumbing ----

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = limited_session(self.limiter, self._ca_cert, retries=0)
            session.headers.update(self._auth)
            self._local.session = session
        return session

    def _count(self) -> None:
        with self._count_lock:
            self.requests_made += 1

    def _call(self, method: str, url: str, *, idempotent: bool, json_body: Any = None,
              params: dict[str, Any] | None = None) -> requests.Response:
        return send(
            self._session(), method, url, limiter=self.limiter, crm="Salesforce",
            is_rate_limited=_rate_limited, idempotent=idempotent, count=self._count,
            json_body=json_body, params=params, timeout=TIMEOUT,
        )

    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        """Every record a SOQL query returns, following nextRecordsUrl."""
        response = self._call("GET", self.base + "query/", idempotent=True, params={"q": soql})
        while True:
            _raise_for_read(response, "query")
            page = response.json()
            yield from page.get("records") or []
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            response = self._call("GET", self.root + next_url, idempotent=True)

    # ---- protocol ----

    def batch_limit(self, kind: str) -> int:
        return ACTION_INPUTS_MAX

    def prepare(self, kinds: set[str]) -> None:
        return None  # cadences need no setup

    def sequences(self) -> pa.Table:
        rows = [{"sequence_id": r["Id"], "name": r.get("Name") or r["Id"]}
                for r in self.query("SELECT Id, Name FROM ActionCadence")]
        return pa.Table.from_pylist(rows, schema=SEQUENCE_SCHEMA)

    def enrollments(self, since: datetime | None, contacts: pa.Table | None = None) -> pa.Table:
        """Trackers modified since `since` (all when None), plus every tracker of the
        targets in `contacts`."""
        select = f"SELECT {', '.join(TRACKER_FIELDS)} FROM ActionCadenceTracker"
        trackers: dict[str, dict[str, Any]] = {}
        if since is not None or contacts is None:
            where = f" WHERE SystemModstamp >= {_soql_time(since)}" if since else ""
            trackers.update((r["Id"], r) for r in self.query(select + where))
        targets = [] if contacts is None else sorted(
            {str(c) for c in contacts.column("contact_id").to_pylist() if c})
        for batch in _slices(targets, IDS_PER_QUERY):
            where = f" WHERE TargetId IN ({', '.join(_quote(t) for t in batch)})"
            trackers.update((r["Id"], r) for r in self.query(select + where))
        emails = self._emails({r["TargetId"] for r in trackers.values() if r.get("TargetId")})
        rows = [_enrollment_row(r, emails) for r in trackers.values()]
        return pa.Table.from_pylist(rows, schema=ENROLLMENT_SCHEMA)

    def written(self, changes: pa.Table) -> pa.Table:
        # an action leaves no trace of its own beyond the tracker: state tells all
        return pa.table({"change_id": pa.array([], pa.string())})

    def enroll(self, changes: pa.Table) -> pa.Table:
        users = self._user_ids({s for s in changes.column("sender").to_pylist() if s})
        inputs = []
        for row in changes.to_pylist():
            item = {"salesCadenceNameOrId": row["sequence_id"], "targetId": row["contact_id"]}
            user = users.get(row["sender"] or "")
            if user:
                item["userId"] = user
            if row.get("start_step") is not None:
                # a recovery resumes where the person left off. The action takes the
                # step's name or id; the sandbox names a step by its number, a real org
                # by its ActionCadenceStep (not resolved here yet)
                item["startStepNameOrId"] = str(row["start_step"])
            inputs.append(item)
        return self._invoke("enroll", changes, inputs)

    def unenroll(self, changes: pa.Table) -> pa.Table:
        inputs = [{"targetId": r["contact_id"], "completionReasonCode": "ManuallyRemoved",
                   **_cadence(r)} for r in changes.to_pylist()]
        return self._invoke("unenroll", changes, inputs)

    def pause(self, changes: pa.Table) -> pa.Table:
        return self._invoke("pause", changes,
                            [{"targetId": r["contact_id"], **_cadence(r)}
                             for r in changes.to_pylist()])

    def resume(self, changes: pa.Table) -> pa.Table:
        return self._invoke("resume", changes,
                            [{"targetId": r["contact_id"], **_cadence(r)}
                             for r in changes.to_pylist()])

    # ---- helpers ----

    def _invoke(self, kind: str, changes: pa.Table, inputs: list[dict[str, Any]]) -> pa.Table:
        """One action call; one result per input, in input order."""
        url = self.base + f"actions/standard/{ACTIONS[kind]}"
        try:
            response = self._call("POST", url, idempotent=False, json_body={"inputs": inputs})
        except (OutcomeUnknown, RateLimitExhausted) as exc:
            return same_outcome(changes, "retry", str(exc))
        if response.status_code != 200:
            return same_outcome(changes, "rejected", _error_line(response))
        answers = response.json()
        rows = []
        for change_id, answer in zip(changes.column("change_id").to_pylist(), answers,
                                     strict=True):
            if answer.get("isSuccess"):
                rows.append({"change_id": change_id, "outcome": "sent", "response": answer})
            else:
                errors = answer.get("errors") or [{}]
                rows.append({"change_id": change_id, "outcome": "rejected", "response": answer,
                             "error": f"{errors[0].get('statusCode', 'ERROR')}: "
                                      f"{errors[0].get('message', '')}"})
        return results(rows)

    def _emails(self, target_ids: set[str]) -> dict[str, str]:
        """Target id -> email, from Contact and Lead (cadence targets are either)."""
        emails: dict[str, str] = {}
        for prefix, sobject in TARGET_OBJECTS.items():
            ids = sorted(t for t in target_ids if t.startswith(prefix))
            for batch in _slices(ids, IDS_PER_QUERY):
                soql = (f"SELECT Id, Email FROM {sobject} "
                        f"WHERE Id IN ({', '.join(_quote(i) for i in batch)})")
                emails.update((r["Id"], (r.get("Email") or "").strip().lower())
                              for r in self.query(soql))
        return emails

    def _user_ids(self, senders: set[str]) -> dict[str, str | None]:
        """Sender (a user id, or a user's email) -> Salesforce User id, cached."""
        unknown = sorted(s for s in senders if s not in self._users and "@" in s)
        for batch in _slices(unknown, IDS_PER_QUERY):
            soql = (f"SELECT Id, Email FROM User "
                    f"WHERE Email IN ({', '.join(_quote(s) for s in batch)})")
            found = {(r.get("Email") or "").lower(): r["Id"] for r in self.query(soql)}
            for sender in batch:
                self._users[sender] = found.get(sender.lower())
        return {s: (s if s.startswith("005") else self._users.get(s)) for s in senders}


def _rate_limited(response: requests.Response) -> bool:
    if response.status_code != 403:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, list) and any(
        isinstance(e, dict) and e.get("errorCode") == "REQUEST_LIMIT_EXCEEDED" for e in body)


def _cadence(row: dict[str, Any]) -> dict[str, str]:
    """The cadence input, unless the change is for every cadence of the target ('*')."""
    sequence = row.get("sequence_id")
    return {} if not sequence or sequence == "*" else {"salesCadenceNameOrId": sequence}


def _enrollment_row(tracker: dict[str, Any], emails: dict[str, str]) -> dict[str, Any]:
    state = str(tracker.get("State") or "")
    reason = str(tracker.get("CompletionReason") or "")
    mapped = {"Running": "active", "Paused": "paused"}.get(state) or (
        "unenrolled" if reason == "ManuallyRemoved" else "finished")
    step = tracker.get("CurrentStepNumber")
    return {
        "enrollment_id": tracker["Id"],
        "sequence_id": tracker.get("ActionCadenceId"),
        "email": emails.get(tracker.get("TargetId") or ""),
        "contact_id": tracker.get("TargetId"),
        "state": mapped,
        "step": int(step) if step is not None else None,
        "enrolled_at": _time(tracker.get("CreatedDate")),
        "updated_at": _time(tracker.get("LastModifiedDate")),
    }


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    value = str(text)
    if value.endswith("+0000"):
        value = value[:-5] + "+00:00"
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _soql_time(value: datetime) -> str:
    """A SOQL datetime literal (unquoted, UTC)."""
    if value.tzinfo:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _quote(text: str) -> str:
    """A SOQL string literal: backslashes and quotes escaped, never raw."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _slices(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _error_line(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return f"{body[0].get('errorCode', response.status_code)}: {body[0].get('message', '')}"
    return f"HTTP {response.status_code}: {str(body)[:200]}"


def _raise_for_read(response: requests.Response, what: str) -> None:
    if response.status_code == 200:
        return
    if response.status_code in (400, 403, 404):
        raise ConfigError(
            f"Salesforce refused to {what} ActionCadenceTracker ({_error_line(response)}); "
            "check that Sales Engagement is enabled and the user in "
            f"{SESSION_SETTING} may read cadences"
        )
    raise RateLimitExhausted(
        f"Salesforce answered {response.status_code} to {what} ({_error_line(response)}); "
        "the changes stay pending for the next run"
    )
