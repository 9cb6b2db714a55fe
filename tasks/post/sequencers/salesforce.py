"""Salesforce Sales Engagement (cadences) behind the Sequencer protocol.

Changes go through the standard invocable actions with the inputs the Actions Developer
Guide lists for each, and no other
(https://developer.salesforce.com/docs/atlas.en-us.api_action.meta/api_action/actions_obj_high_velocity_sales.htm):
- assignTargetToSalesCadence: salesCadenceNameOrId, targetId, userId, startStepNameOrId
  (a recovery's start: the Id of the ActionCadenceStep at that position);
- removeTargetFromSalesCadence: actionCadenceTrackerId (the target's active tracker in
  the cadence the change names; the action itself takes no cadence) or, for "every
  cadence", targetId; completionReasonCode ManuallyRemoved, its one valid value;
- pauseSalesCadenceTracker / resumeSalesCadenceTracker: targetId only, so they are sent
  only when the target's active tracker is in the cadence the change names.
Up to 200 inputs per call; the answer has one element per input, so one target's refusal
does not fail its batch. State comes from ActionCadenceTracker over SOQL (incrementally on
SystemModstamp, or by target); the step from the step objects (salesforce_steps.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pyarrow as pa
import requests

from tasks.core.clock import parse_iso
from tasks.core.config import SalesforceConfig
from tasks.core.errors import ConfigError, SyncError
from tasks.post.sequencers import base
from tasks.post.sequencers.salesforce_actions import (
    ACTIONS,
    ERROR_CHARS,
    REMOVED,
    Plan,
    Planner,
    assign_input,
    input_outcome,
    remove_input,
    state_input,
)
from tasks.post.sequencers.salesforce_steps import STEP_FIELDS, STEP_WHERE, CadenceSteps
from tasks.sync.limiter import RateLimiter, configured_limiter
from tasks.sync.salesforce import settings as sync_settings
from tasks.sync.salesforce.soql import datetime_literal, string_literal

SESSION_SETTING = "crms.salesforce.session"
ACTION_INPUTS_MAX = 200       # Salesforce's limit per invocable-action call
IDS_PER_QUERY = 200           # keeps a SOQL `IN (...)` well inside the URL limit
TIMEOUT = (10, 120)

# the current and last completed steps are ActionCadenceStepTracker records; their
# relationships CurrentStep and LastCompletedStep (Object Reference) give each one's
# ActionCadenceStep in the same query (REST API "Relationship Queries")
TRACKER_FIELDS = ("Id", "ActionCadenceId", "TargetId", "State", "CompletionReason",
                  "CurrentStep.ActionCadenceStepId", "LastCompletedStep.ActionCadenceStepId",
                  "CreatedDate", "LastModifiedDate")
# ActionCadenceTracker.State: Running, Paused, Initializing and Processing are active
# trackers (IsTrackerActive), Complete and Error are not
OPEN_STATES = {"Running": "active", "Initializing": "active", "Processing": "active",
               "Paused": "paused"}
# Contact and Lead ids start with their key prefix; cadence targets are either
TARGET_OBJECTS = {"003": "Contact", "00Q": "Lead"}
# a whole call refused for these statuses ran nothing and will run once the org or the
# credential is fixed: the changes wait (pending). Other 4xx refuse the request itself.
NOT_RUN_STATUSES = {401, 403, 404, 408, 409, 429}


class SalesforceSequencer(base.HttpAdapter):
    """Sales Engagement cadences of one org; thread-safe."""

    crm = "salesforce"
    traceable_kinds: frozenset[str] = frozenset()

    def __init__(self, config: SalesforceConfig, limiter: RateLimiter | None = None) -> None:
        if not config.url:
            raise ConfigError("crms.salesforce.url: not set; name the org's instance URL")
        session_id = config.session.resolve(SESSION_SETTING)
        self.base = f"{config.url.rstrip('/')}/services/data/v{config.api_version}/"
        self.root = config.url.rstrip("/")
        self.http = base.Http("Salesforce", limiter or configured_limiter(
            "salesforce", config.rate_limit_per_10s, sync_settings.RATE_LIMIT_PER_10S),
            config.ca_cert, base.bearer(session_id), _rate_limited, TIMEOUT)
        self._lock = threading.Lock()
        self._users: dict[str, str | None] = {}
        self._steps = CadenceSteps()
        self._stepped: set[str] = set()   # cadences whose steps are in self._steps

    def _call(self, method: str, url: str, *, idempotent: bool, json_body: Any = None,
              params: dict[str, Any] | None = None) -> requests.Response:
        return self.http.call(method, url, idempotent=idempotent, json_body=json_body,
                              params=params)

    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        """Every record a SOQL query returns, following nextRecordsUrl."""
        response = self._call("GET", self.base + "query/", idempotent=True, params={"q": soql})
        while True:
            page = _read_page(response)
            yield from page.get("records") or []
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            response = self._call("GET", self.root + next_url, idempotent=True)

    def query_in(self, select: str, field: str, values: set[str],
                 where: str = "") -> list[dict[str, Any]]:
        """`select ... WHERE [where AND] field IN (values)`, 200 values per query."""
        found: list[dict[str, Any]] = []
        for batch in _slices(sorted(values), IDS_PER_QUERY):
            condition = f"{field} IN ({', '.join(string_literal(v) for v in batch)})"
            found += self.query(f"{select} WHERE {where + ' AND ' if where else ''}{condition}")
        return found

    # ---- protocol ----

    def batch_limit(self, kind: str) -> int:
        return ACTION_INPUTS_MAX

    def prepare(self, kinds: set[str]) -> None:
        return None  # cadences need no setup

    def sequences(self) -> pa.Table:
        rows = [{"sequence_id": r["Id"], "name": r.get("Name") or r["Id"]}
                for r in self.query("SELECT Id, Name FROM ActionCadence")]
        return pa.Table.from_pylist(rows, schema=base.SEQUENCE_SCHEMA)

    def enrollments(self, since: datetime | None, contacts: pa.Table | None = None) -> pa.Table:
        """Trackers modified since `since` (all when None), plus every tracker of the
        targets in `contacts`, with the step each is past."""
        select = f"SELECT {', '.join(TRACKER_FIELDS)} FROM ActionCadenceTracker"
        trackers: dict[str, dict[str, Any]] = {}
        if since is not None or contacts is None:
            where = f" WHERE SystemModstamp >= {datetime_literal(since)}" if since else ""
            trackers.update((r["Id"], r) for r in self.query(select + where))
        targets = set() if contacts is None else {
            str(c) for c in contacts.column("contact_id").to_pylist() if c}
        trackers.update((r["Id"], r) for r in self.query_in(select, "TargetId", targets))
        self._load_steps({t["ActionCadenceId"] for t in trackers.values()
                          if t.get("ActionCadenceId")})
        emails = self._emails({r["TargetId"] for r in trackers.values() if r.get("TargetId")})
        rows = [_enrollment_row(r, emails, self._steps.completed(r))
                for r in trackers.values()]
        return pa.Table.from_pylist(rows, schema=base.ENROLLMENT_SCHEMA)

    def enroll(self, changes: pa.Table) -> pa.Table:
        rows = changes.to_pylist()
        try:
            users = self._user_ids({r["sender"] for r in rows if r["sender"]})
            self._load_steps({r["sequence_id"] for r in rows if r.get("start_step")})
        except (ConfigError, SyncError) as exc:
            return base.same_outcome(changes, "retry", str(exc))
        return self._invoke("enroll", changes, [assign_input(r, users, self._steps)
                                                for r in rows])

    def unenroll(self, changes: pa.Table) -> pa.Table:
        return self._with_trackers("unenroll", changes, remove_input)

    def pause(self, changes: pa.Table) -> pa.Table:
        return self._with_trackers("pause", changes, state_input("Running", "pause"))

    def resume(self, changes: pa.Table) -> pa.Table:
        return self._with_trackers("resume", changes, state_input("Paused", "resume"))

    # ---- helpers ----

    def _with_trackers(self, kind: str, changes: pa.Table, plan: Planner) -> pa.Table:
        """Plan each change against its target's active trackers, then invoke."""
        rows = changes.to_pylist()
        try:
            active = self.query_in(
                "SELECT Id, ActionCadenceId, TargetId, State FROM ActionCadenceTracker",
                "TargetId", {r["contact_id"] for r in rows if r["contact_id"]},
                where="IsTrackerActive = true")
        except (ConfigError, SyncError) as exc:
            return base.same_outcome(changes, "retry", str(exc))
        of_target: dict[str, list[dict[str, Any]]] = {}
        for tracker in active:
            of_target.setdefault(tracker["TargetId"], []).append(tracker)
        return self._invoke(kind, changes,
                            [plan(r, of_target.get(r["contact_id"], [])) for r in rows])

    def _invoke(self, kind: str, changes: pa.Table, plans: list[Plan]) -> pa.Table:
        """One action call for the planned inputs; one result per change, in order."""
        ids = changes.column("change_id").to_pylist()
        to_send = [(c, p["input"]) for c, p in zip(ids, plans, strict=True) if "input" in p]
        answers = self._call_action(kind, [i for _, i in to_send]) if to_send else []
        answered = dict(zip([c for c, _ in to_send], answers, strict=True))
        return base.results([{"change_id": c, **(answered[c] if "input" in p else p)}
                        for c, p in zip(ids, plans, strict=True)])

    def _call_action(self, kind: str, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The outcome of each input of one call; a whole-call failure is every input's."""
        url = self.base + f"actions/standard/{ACTIONS[kind]}"
        try:
            response = self._call("POST", url, idempotent=False, json_body={"inputs": inputs})
        except (base.OutcomeUnknown, base.RateLimitExhausted, ConfigError) as exc:
            return [{"outcome": "retry", "error": str(exc)}] * len(inputs)
        if response.status_code != 200:
            outcome = "retry" if response.status_code in NOT_RUN_STATUSES else "rejected"
            line = f"{ACTIONS[kind]} refused the call: {_error_line(response)}"
            return [{"outcome": outcome, "error": line}] * len(inputs)
        try:
            answers = response.json()
        except ValueError:
            answers = None
        if not isinstance(answers, list) or len(answers) != len(inputs):
            # it ran, but which inputs took is unreadable: read the state before again
            line = f"{ACTIONS[kind]} answered HTTP 200 with no per-input base.results"
            return [{"outcome": "retry", "error": line}] * len(inputs)
        return [input_outcome(a) for a in answers]

    def _load_steps(self, cadences: set[str]) -> None:
        """Read the steps of cadences not read yet by this adapter (one query per 200)."""
        with self._lock:
            new = {c for c in cadences if c and c not in self._stepped}
        if not new:
            return
        steps = self.query_in(f"SELECT {', '.join(STEP_FIELDS)} FROM ActionCadenceStep",
                              "ActionCadenceId", new, where=STEP_WHERE)
        with self._lock:
            self._steps.add(steps)
            self._stepped |= new

    def _emails(self, target_ids: set[str]) -> dict[str, str]:
        """Target id -> email, from Contact and Lead (cadence targets are either)."""
        emails: dict[str, str] = {}
        for prefix, sobject in TARGET_OBJECTS.items():
            ids = {t for t in target_ids if t.startswith(prefix)}
            emails.update((r["Id"], (r.get("Email") or "").strip().lower()) for r in
                          self.query_in(f"SELECT Id, Email FROM {sobject}", "Id", ids))
        return emails

    def _user_ids(self, senders: set[str]) -> dict[str, str | None]:
        """Sender (a user id, or a user's email) -> Salesforce User id, cached."""
        unknown = {s for s in senders if s not in self._users and "@" in s}
        found = {(r.get("Email") or "").lower(): r["Id"]
                 for r in self.query_in("SELECT Id, Email FROM User", "Email", unknown)}
        for sender in unknown:
            self._users[sender] = found.get(sender.lower())
        return {s: (s if s.startswith("005") else self._users.get(s)) for s in senders}


def _enrollment_row(tracker: dict[str, Any], emails: dict[str, str],
                    step: int | None) -> dict[str, Any]:
    state = OPEN_STATES.get(str(tracker.get("State") or ""))
    if state is None:
        # Complete or Error: removed by a rep (or seqguard) is unenrolled, anything else
        # (no more steps, exit conditions, conversion, an error) ended the cadence
        removed = tracker.get("CompletionReason") == REMOVED
        state = "unenrolled" if removed else "finished"
    return {
        "enrollment_id": tracker["Id"],
        "sequence_id": tracker.get("ActionCadenceId"),
        "email": emails.get(tracker.get("TargetId") or ""),
        "contact_id": tracker.get("TargetId"),
        "state": state,
        "step": step,
        "enrolled_at": _time(tracker.get("CreatedDate")),
        "updated_at": _time(tracker.get("LastModifiedDate")),
    }


# ---- wire formats ----------------------------------------------------------------------------

def _rate_limited(response: requests.Response) -> bool:
    """403 REQUEST_LIMIT_EXCEEDED: the org's API limit (REST API "Status Codes and Error
    Responses", https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm)."""
    if response.status_code != 403:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, list) and any(
        isinstance(e, dict) and e.get("errorCode") == "REQUEST_LIMIT_EXCEEDED" for e in body)


def _time(text: Any) -> datetime | None:
    return parse_iso(str(text)) if text else None


def _slices(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _error_line(response: requests.Response) -> str:
    """`HTTP n errorCode: message` of an error answer, whatever its body, cut short."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, list) and body and isinstance(body[0], dict):
        detail = f"{body[0].get('errorCode', '')}: {body[0].get('message', '')}"
    else:
        detail = " ".join(response.text.split())
    return f"HTTP {response.status_code} {detail}"[:ERROR_CHARS]


def _read_page(response: requests.Response) -> dict[str, Any]:
    """A query page, or the error that stops the read."""
    if response.status_code == 200:
        try:
            page = response.json()
        except ValueError:
            page = None
        if isinstance(page, dict):
            return page
    if response.status_code in (200, 400, 403, 404):
        raise ConfigError(
            f"Salesforce refused to read cadences ({_error_line(response)}); check that "
            f"Sales Engagement is enabled and the user in {SESSION_SETTING} may read "
            "ActionCadenceTracker, ActionCadenceStepTracker and ActionCadenceStep"
        )
    raise base.RateLimitExhausted(
        f"Salesforce answered {_error_line(response)} to a cadence read; the changes stay "
        "pending for the next run"
    )
