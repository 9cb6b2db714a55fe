"""Outreach (REST API v2, JSON:API) behind the Sequencer protocol, from documented data only.

People: Outreach holds prospects of its own; `people` finds them by email, 100 emails per
`GET /prospects?filter[emails]=a,b,...` (Prospect reference: `emails` is filterable; an
email that is on several prospects resolves to the oldest). Enroll:
`POST /sequenceStates` naming the prospect, the sequence and the sending mailbox (the
change's sender's mailbox, found by `filter[email]`, else the configured sender's), one
per call ("Common patterns", https://developers.outreach.io/api/common-patterns/). A
sequence state has no attribute a client may write, so the outbox row id cannot travel
with it (`written` is empty; a retry reads the state first) and there is no starting
step: an enrollment meant to start mid-sequence starts at step 1 and says so.
Unenroll, pause, resume: the sequence state's member actions `finish`, `pause`,
`resume` ("Finishes an active sequence state", "Pauses an active sequence state",
"Resumes a paused sequence state"), on the prospect's states read first (one read per
25 changes). State: `GET /sequenceStates`, incrementally by `filter[updatedAt]=since..inf`
or by prospect (`filter[prospect][id]`); the step from the state's current
`sequenceStep` and the sequence's steps in `order`. Activity: `GET /mailings` changed
since a time (`deliveredAt`, `repliedAt`, `bouncedAt`, `unsubscribedAt`).

Reference pages: https://developers.outreach.io/api/reference/tag/Sequence-State/,
.../tag/Prospect/, .../tag/Mailbox/, .../tag/Sequence-Step/, .../tag/Mailing/ and the
OpenAPI description https://api.outreach.io/api/v2/schema/openapi.json; requests follow
"Making requests" (https://developers.outreach.io/api/making-requests/: JSON:API media
type, filters, sparse fieldsets, `page[size]` and `links.next`); the rate limit is
"Getting started", Rate Limiting (https://developers.outreach.io/api/getting-started/):
10,000 requests per user per hour, 429 past it, X-RateLimit-Reset the window's end in
epoch seconds. tests/contract/test_outreach.py pins each request and answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import requests

from tasks.core.config import SequencerConfig
from tasks.core.errors import ConfigError, SyncError
from tasks.post.sequencers import base
from tasks.sync.limiter import RateLimiter, limiter_for

TOKEN_SETTING = "sequencers.outreach (token_env or secret_block)"
API = "/api/v2"
MEDIA_TYPE = "application/vnd.api+json"
RATE_LIMIT_PER_HOUR = 10_000   # per user ("Getting started", Rate Limiting)
RATE_WINDOW_S = 3600.0
PAGE_SIZE = 1000               # the most a page carries
VALUES_PER_FILTER = 100        # ids or emails in one filter list: keeps the URL short
# one create per change and per batch: the poster counts a batch with any unknown outcome
# as a failed call (its backoff and stop), so a batch is one call where the API has no batch
ENROLLS_PER_BATCH = 1
ACTIONS_PER_BATCH = 25         # one state read for the batch, then one action per change
ERROR_CHARS = 300
TIMEOUT = (10, 60)

# an Outreach sequence state's `state` in seqguard's words. Not finished: "active",
# "paused", "failed", "bounced", "pending" and "disabled" (the Prospect reference,
# relationship activeSequenceStates); "pending" waits to send (throttle, schedule) and
# counts as active; "failed", "bounced" and "disabled" have stopped sending but are
# still open (finish ends them), so they read as paused
STATES = {"active": "active", "pending": "active", "paused": "paused", "failed": "paused",
          "bounced": "paused", "disabled": "paused", "finished": "finished",
          "opted_out": "finished"}
OPEN = frozenset(s for s, ours in STATES.items() if ours in ("active", "paused"))
# member action -> the Outreach states it applies to, and the state it leaves
ACTIONS = {"unenroll": ("finish", OPEN, "finished"),
           "pause": ("pause", frozenset({"active", "pending"}), "paused"),
           "resume": ("resume", frozenset({"paused"}), "active")}
STATE_FIELDS = "state,createdAt,updatedAt,prospect,sequence,sequenceStep"
MAILING_FIELDS = ("deliveredAt,repliedAt,bouncedAt,unsubscribedAt,updatedAt,prospect,"
                  "sequence")
# a mailing's timestamp attribute -> the activity kind it records
MAILING_EVENTS = {"deliveredAt": "sent", "repliedAt": "reply", "bouncedAt": "bounce",
                  "unsubscribedAt": "unsubscribe"}


class OutreachSequencer(base.HttpAdapter):
    """Outreach for one user's OAuth token; thread-safe (the poster runs calls in parallel)."""

    crm = "outreach"
    traceable_kinds: frozenset[str] = frozenset()  # a sequence state carries no client id

    def __init__(self, config: SequencerConfig, limiter: RateLimiter | None = None) -> None:
        token = config.token.resolve(TOKEN_SETTING)
        self.base = config.url.rstrip("/") + API
        self.sender = (config.sender or "").strip().lower() or None
        limit = RATE_LIMIT_PER_HOUR if config.rate_limit is None else config.rate_limit
        self.limiter = limiter or limiter_for("outreach", limit or None, RATE_WINDOW_S)
        self.http = base.Http(
            "Outreach", self.limiter, config.ca_cert,
            {**base.bearer(token, MEDIA_TYPE), "Content-Type": MEDIA_TYPE},
            lambda r: r.status_code == 429, TIMEOUT, wait_of=rate_limit_wait)
        self._lock = threading.Lock()
        self._emails: dict[str, str | None] = {}      # prospect id -> its first email
        self._mailboxes: dict[str, str | None] = {}   # sender email -> mailbox id
        self._positions: dict[str, int] = {}          # sequenceStep id -> position (1-based)
        self._stepped: set[str] = set()               # sequences whose steps were read

    def _pages(self, path: str, params: dict[str, Any], what: str) -> Iterator[dict[str, Any]]:
        """Every resource object of a collection, following `links.next` as given."""
        response = self.http.call(
            "GET", self.base + path, idempotent=True,
            params={**params, "page[size]": PAGE_SIZE, "count": "false"})
        while True:
            page = _read(response, what)
            yield from page.get("data") or []
            next_url = (page.get("links") or {}).get("next")
            if not next_url:
                return
            response = self.http.call("GET", next_url, idempotent=True)

    def _listed(self, path: str, filter_name: str, values: Iterable[str],
                params: dict[str, Any], what: str) -> list[dict[str, Any]]:
        """A collection filtered by a list of values, 100 values per request."""
        found: list[dict[str, Any]] = []
        ordered = sorted(set(values))
        for start in range(0, len(ordered), VALUES_PER_FILTER):
            batch = ",".join(ordered[start:start + VALUES_PER_FILTER])
            found += self._pages(path, {**params, filter_name: batch}, what)
        return found

    def batch_limit(self, kind: str) -> int:
        return ENROLLS_PER_BATCH if kind == "enroll" else ACTIONS_PER_BATCH

    def prepare(self, kinds: set[str]) -> None:
        return None  # nothing to create in Outreach

    def sequences(self) -> pa.Table:
        rows = [{"sequence_id": str(item["id"]),
                 "name": str((item.get("attributes") or {}).get("name") or item["id"])}
                for item in self._pages("/sequences", {"fields[sequence]": "name"},
                                        "list sequences")]
        return pa.Table.from_pylist(rows, schema=base.SEQUENCE_SCHEMA)

    def people(self, emails: pa.Table) -> pa.Table:
        """Each email's prospect (the oldest when several carry it); emails Outreach's
        filter list cannot carry (a comma, '..') are left unresolved."""
        wanted = {e.strip().lower() for e in emails.column("email").to_pylist()
                  if e and "@" in e and "," not in e and ".." not in e}
        owners: dict[str, int] = {}
        for item in self._listed("/prospects", "filter[emails]", wanted,
                                 {"fields[prospect]": "emails"}, "find prospects by email"):
            prospect = int(item["id"])
            addresses = [str(e).strip().lower() for e in _attrs(item).get("emails") or []]
            self._remember_email(str(prospect), addresses[0] if addresses else None)
            for address in addresses:
                if address in wanted:
                    owners[address] = min(prospect, owners.get(address, prospect))
        rows = [{"email": e, "contact_id": str(p)} for e, p in sorted(owners.items())]
        return pa.Table.from_pylist(rows, schema=base.PEOPLE_SCHEMA)

    def enrollments(self, since: datetime | None, contacts: pa.Table | None = None) -> pa.Table:
        """Sequence states updated since `since`, plus every state of the prospects in
        `contacts`, with the step each is past. With no `since`: every state when
        `contacts` is None or empty (a first read), else only those prospects' (the
        poster's read-back of changes in doubt), as the Salesforce adapter reads."""
        states: dict[str, dict[str, Any]] = {}
        params = {"fields[sequenceState]": STATE_FIELDS}
        if since is not None or contacts is None or contacts.num_rows == 0:
            since_params = dict(params)
            if since is not None:
                since_params.update({"filter[updatedAt]": f"{_iso(since)}..inf",
                                     "sort": "updatedAt"})
            states.update((str(s["id"]), s) for s in self._pages(
                "/sequenceStates", since_params, "read sequence states"))
        prospects = set() if contacts is None else {
            str(c) for c in contacts.column("contact_id").to_pylist() if _is_id(c)}
        states.update((str(s["id"]), s) for s in self._listed(
            "/sequenceStates", "filter[prospect][id]", prospects, params,
            "read sequence states"))
        self._load_steps({_related(s, "sequence") for s in states.values()} - {None})
        emails = self._emails_of({_related(s, "prospect") for s in states.values()} - {None})
        rows = [self._enrollment_row(s, emails) for s in states.values()]
        return pa.Table.from_pylist(rows, schema=base.ENROLLMENT_SCHEMA)

    def activity(self, since: datetime | None) -> pa.Table:
        """Mailings changed since `since`: one row per delivery, reply, bounce and
        unsubscribe each records (`<mailing id>:<kind>`). Whether a reply is an
        out-of-office one is not exposed."""
        params: dict[str, Any] = {"fields[mailing]": MAILING_FIELDS}
        if since is not None:
            params.update({"filter[updatedAt]": f"{_iso(since)}..inf", "sort": "updatedAt"})
        mailings = list(self._pages("/mailings", params, "read mailings"))
        emails = self._emails_of({_related(m, "prospect") for m in mailings} - {None})
        rows = []
        for mailing in mailings:
            attributes, prospect = _attrs(mailing), _related(mailing, "prospect")
            for attribute, kind in MAILING_EVENTS.items():
                if attributes.get(attribute):
                    rows.append({
                        "activity_id": f"{mailing['id']}:{kind}",
                        "email": emails.get(prospect or ""), "contact_id": prospect,
                        "kind": kind, "sequence_id": _related(mailing, "sequence"),
                        "occurred_at": _time(attributes[attribute]),
                        "updated_at": _time(attributes.get("updatedAt"))})
        return pa.Table.from_pylist(rows, schema=base.ACTIVITY_SCHEMA)

    def enroll(self, changes: pa.Table) -> pa.Table:
        rows = changes.to_pylist()
        try:
            mailboxes = self._mailbox_ids({r["sender"] for r in rows if r.get("sender")}
                                          | ({self.sender} if self.sender else set()))
        except (ConfigError, SyncError) as exc:
            return base.results([{"change_id": r["change_id"], "outcome": "retry",
                             "error": str(exc)} for r in rows])
        return base.results([self._enroll_one(r, mailboxes) for r in rows])

    def unenroll(self, changes: pa.Table) -> pa.Table:
        return self._act("unenroll", changes)

    def pause(self, changes: pa.Table) -> pa.Table:
        return self._act("pause", changes)

    def resume(self, changes: pa.Table) -> pa.Table:
        return self._act("resume", changes)

    def _enroll_one(self, row: dict[str, Any], mailboxes: dict[str, str | None]
                    ) -> dict[str, Any]:
        change = row["change_id"]
        if not _is_id(row.get("contact_id")) or not _is_id(row.get("sequence_id")):
            return {"change_id": change, "outcome": "rejected",
                    "error": "not an Outreach prospect and sequence id (prospect "
                             f"{row.get('contact_id')}, sequence {row.get('sequence_id')})"}
        sender = (row.get("sender") or "").strip().lower()
        mailbox = mailboxes.get(sender) or mailboxes.get(self.sender or "")
        if mailbox is None:
            return {"change_id": change, "outcome": "rejected",
                    "error": f"no Outreach mailbox for {sender or 'the change'} and none "
                             "for sequencers.outreach.sender; connect the mailbox in "
                             "Outreach or set the sender"}
        body = {"data": {"type": "sequenceState", "relationships": {
            "prospect": {"data": {"type": "prospect", "id": int(row["contact_id"])}},
            "sequence": {"data": {"type": "sequence", "id": int(row["sequence_id"])}},
            "mailbox": {"data": {"type": "mailbox", "id": int(mailbox)}}}}}
        try:
            response = self.http.call("POST", self.base + "/sequenceStates",
                                      idempotent=False, json_body=body)
        except (base.OutcomeUnknown, base.RateLimitExhausted, ConfigError) as exc:
            return {"change_id": change, "outcome": "retry", "error": str(exc)}
        if response.status_code != 201:
            return {"change_id": change, **_refused(response, "create the sequence state")}
        data = _document(response).get("data") or {}
        # a sequence state's create takes no starting step (every attribute is read-only)
        note = base.restart_note("Outreach", row.get("start_step"))
        return {"change_id": change, "outcome": "confirmed",
                "enrollment_id": str(data.get("id")),
                "response": {"id": data.get("id"), "state": _attrs(data).get("state"),
                             "mailbox": mailbox, **({"seqguard_note": note} if note else {})}}

    def _act(self, kind: str, changes: pa.Table) -> pa.Table:
        """One read of the batch's prospects' states, then the member action on each state
        the change names (its sequence, or every open one for '*')."""
        rows = changes.to_pylist()
        try:
            states = self._listed(
                "/sequenceStates", "filter[prospect][id]",
                {str(r["contact_id"]) for r in rows if _is_id(r.get("contact_id"))},
                {"fields[sequenceState]": "state,prospect,sequence"}, "read sequence states")
        except (ConfigError, SyncError) as exc:
            return base.results([{"change_id": r["change_id"], "outcome": "retry",
                             "error": str(exc)} for r in rows])
        of_prospect: dict[str, list[dict[str, Any]]] = {}
        for item in states:
            of_prospect.setdefault(_related(item, "prospect") or "", []).append(item)
        return base.results([self._act_one(kind, r, of_prospect.get(str(r["contact_id"]), []))
                        for r in rows])

    def _act_one(self, kind: str, row: dict[str, Any], states: list[dict[str, Any]]
                 ) -> dict[str, Any]:
        change, sequence = row["change_id"], row.get("sequence_id")
        action, from_states, leaves = ACTIONS[kind]
        if not _is_id(row.get("contact_id")) or not (sequence == "*" or _is_id(sequence)):
            return {"change_id": change, "outcome": "rejected",
                    "error": "not an Outreach prospect and sequence id (prospect "
                             f"{row.get('contact_id')}, sequence {sequence})"}
        mine = [s for s in states if sequence == "*" or _related(s, "sequence") == sequence]
        targets = [s for s in mine if _attrs(s).get("state") in from_states]
        if not targets:
            done = (not any(_attrs(s).get("state") in OPEN for s in mine) if kind == "unenroll"
                    else any(_attrs(s).get("state") == leaves for s in mine))
            seen = ", ".join(f"{_attrs(s).get('state')} in {_related(s, 'sequence')}"
                             for s in states) or "none"
            if done:
                return {"change_id": change, "outcome": "confirmed",
                        "response": {"seqguard_note": f"nothing to {action}: already done "
                                                      f"(sequence states: {seen})"}}
            return {"change_id": change, "outcome": "rejected",
                    "error": f"nothing to {action}: no sequence state in sequence "
                             f"{sequence} that {action} applies to (sequence states: {seen})"}
        answers = []
        for target in targets:
            url = f"{self.base}/sequenceStates/{target['id']}/actions/{action}"
            try:
                response = self.http.call("POST", url, idempotent=False)
            except (base.OutcomeUnknown, base.RateLimitExhausted, ConfigError) as exc:
                return {"change_id": change, "outcome": "retry", "error": str(exc)}
            if response.status_code != 200:
                return {"change_id": change, **_refused(response, action)}
            data = _document(response).get("data") or {}
            answers.append({"id": data.get("id"), "state": _attrs(data).get("state")})
        shown = all(STATES.get(a["state"] or "") == STATES[leaves] for a in answers)
        return {"change_id": change, "outcome": "confirmed" if shown else "sent",
                "enrollment_id": str(answers[0]["id"]), "response": {"sequenceStates": answers}}

    def _mailbox_ids(self, senders: set[str]) -> dict[str, str | None]:
        """Sender email -> mailbox id, one read for those not looked up yet."""
        wanted = {s.strip().lower() for s in senders if s and "," not in s and ".." not in s}
        with self._lock:
            unknown = wanted - set(self._mailboxes)
        if unknown:
            found = {str(_attrs(m).get("email") or "").strip().lower(): str(m["id"])
                     for m in self._listed("/mailboxes", "filter[email]", unknown,
                                           {"fields[mailbox]": "email"}, "find mailboxes")}
            with self._lock:
                self._mailboxes.update({s: found.get(s) for s in unknown})
        with self._lock:
            return {s: self._mailboxes.get(s) for s in wanted}

    def _emails_of(self, prospects: set[str]) -> dict[str, str | None]:
        """Prospect id -> its first email, read for those not known yet."""
        with self._lock:
            unknown = {p for p in prospects if p not in self._emails}
        for item in self._listed("/prospects", "filter[id]", unknown,
                                 {"fields[prospect]": "emails"}, "read prospects"):
            addresses = _attrs(item).get("emails") or []
            self._remember_email(str(item["id"]),
                                 str(addresses[0]).strip().lower() if addresses else None)
        with self._lock:
            return {p: self._emails.get(p) for p in prospects}

    def _remember_email(self, prospect: str, email: str | None) -> None:
        with self._lock:
            self._emails[prospect] = email

    def _load_steps(self, sequences: set[str]) -> None:
        """Each new sequence's steps, as positions in `order` (1 = the first)."""
        with self._lock:
            new = sequences - self._stepped
        if not new:
            return
        steps = self._listed("/sequenceSteps", "filter[sequence][id]", new,
                             {"fields[sequenceStep]": "order,sequence"}, "read sequence steps")
        by_sequence: dict[str, list[tuple[int, str]]] = {}
        for step in steps:
            by_sequence.setdefault(_related(step, "sequence") or "", []).append(
                (int(_attrs(step).get("order") or 0), str(step["id"])))
        with self._lock:
            for ordered in by_sequence.values():
                for position, (_, step_id) in enumerate(sorted(ordered), start=1):
                    self._positions[step_id] = position
            self._stepped |= new

    def _enrollment_row(self, item: dict[str, Any], emails: dict[str, str | None]
                        ) -> dict[str, Any]:
        attributes, prospect = _attrs(item), _related(item, "prospect")
        position = self._positions.get(_related(item, "sequenceStep") or "")
        return {
            "enrollment_id": str(item["id"]),
            "sequence_id": _related(item, "sequence"),
            "email": emails.get(prospect or ""),
            "contact_id": prospect,
            # an unknown state is left open (active): unenrolling it is the safe side
            "state": STATES.get(str(attributes.get("state")), "active"),
            # the steps before the one the state is in (Outreach does not say whether the
            # step an ended state stopped at was done)
            "step": None if position is None else position - 1,
            "enrolled_at": _time(attributes.get("createdAt")),
            "updated_at": _time(attributes.get("updatedAt")),
        }


def rate_limit_wait(response: requests.Response) -> float | None:
    """Seconds until Outreach lets calls through again: Retry-After when sent, else until
    X-RateLimit-Reset (the window's end, epoch seconds), at most the window."""
    wait = base.retry_after(response)
    if wait is not None:
        return wait
    try:
        reset = float(response.headers["X-RateLimit-Reset"])
    except (KeyError, ValueError):
        return None
    return min(max(reset - time.time(), 0.0), RATE_WINDOW_S)


def _attrs(item: dict[str, Any]) -> dict[str, Any]:
    attributes = item.get("attributes")
    return attributes if isinstance(attributes, dict) else {}


def _related(item: dict[str, Any], name: str) -> str | None:
    """The id of a to-one relationship (`relationships.<name>.data.id`), or None."""
    data = ((item.get("relationships") or {}).get(name) or {}).get("data")
    return str(data["id"]) if isinstance(data, dict) and data.get("id") is not None else None


def _is_id(value: Any) -> bool:
    return value is not None and str(value).isdigit()


def _iso(value: datetime) -> str:
    if value.tzinfo:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _document(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_line(response: requests.Response) -> str:
    """`HTTP n id: detail` of a JSON:API error answer, whatever its body, cut short."""
    errors = _document(response).get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        detail = f"{first.get('id', '')}: {first.get('detail') or first.get('title') or ''}"
    else:
        detail = " ".join(response.text.split())
    return f"HTTP {response.status_code} {detail}"[:ERROR_CHARS]


def _refused(response: requests.Response, what: str) -> dict[str, Any]:
    """A write Outreach refused: a 403 (scope, governance) waits for the fix, anything
    else is refused for good."""
    line = f"Outreach refused to {what}: {_error_line(response)}"
    return {"outcome": "retry" if response.status_code == 403 else "rejected", "error": line}


def _read(response: requests.Response, what: str) -> dict[str, Any]:
    """A collection page, or the error that stops the read."""
    page = _document(response)
    if response.status_code == 200 and isinstance(page.get("data"), list):
        return page
    if response.status_code in (200, 400, 403, 404, 415, 422):
        raise ConfigError(
            f"Outreach refused to {what} ({_error_line(response)}); check that the OAuth "
            f"token in {TOKEN_SETTING} has the read scopes (prospects.read, sequences.read, "
            "sequenceStates.read, sequenceSteps.read, mailboxes.read, mailings.read)")
    raise base.RateLimitExhausted(f"Outreach answered {_error_line(response)} to {what}; the "
                             "changes stay pending for the next run")
