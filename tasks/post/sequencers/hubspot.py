"""HubSpot Sequences (v4) behind the Sequencer protocol, from documented data only.

Enroll: `POST /automation/v4/sequences/enrollments?userId=`, one contact per call (the API
has no batch form, and no starting step: a recovered enrollment restarts at step 1, and
the outbox row's response says so). Its answer (id, toEmail, enrolledAt, updatedAt) is
the enrollment seqguard made.

State: the status call `GET /automation/v4/sequences/enrollments/contact/{contactId}`
answers the one enrollment a contact is in (id, sequence, enrolled at and by) and nothing
about its state or step; it takes no `userId`. Whether an enrollment is still open, and
how it ended, comes from the contact's calculated sequence properties, which the sync
reads in bulk (settings.SEQUENCE_PROPERTIES; tasks/post/reads.py and sql/post/hubspot_*.sql
put the two together). So a status read is only for a contact whose properties name an
enrollment seqguard does not hold yet; the step is unknown (null), and a paused
enrollment cannot be told from an active one. `enrollments` first confirms that the
account has those properties (one read of the contact property list).

Unenroll: HubSpot has no public endpoint, so seqguard writes its decision onto the
contact (`seqguard_unenroll_sequence`, `_reason`, `_at`; 100 contacts per batch update)
and a workflow triggered by `seqguard_unenroll_at` unenrolls the contact, later or never.
The reason text starts with the change id, so a write that reached HubSpot can be told
apart from one that did not, even before the workflow has run.

Pages: https://developers.hubspot.com/docs/api-reference/legacy/automation/sequences/
(get-sequences, enroll-contact, get-enrollment), and for the CRM calls
https://developers.hubspot.com/docs/api-reference/crm/ (contacts batch read / update,
properties); tests/contract/test_hubspot_sequences.py pins each request and answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import requests

from tasks.core.clock import parse_iso, utcnow
from tasks.core.config import HubSpotConfig
from tasks.core.errors import ConfigError
from tasks.post.sequencers import base
from tasks.sync.hubspot import settings as sync_settings
from tasks.sync.limiter import RateLimiter, configured_limiter

TOKEN_SETTING = "crms.hubspot.token"
SEQUENCES_PATH = "/automation/v4/sequences"
ENROLL_PATH = "/automation/v4/sequences/enrollments"
STATUS_PATH = "/automation/v4/sequences/enrollments/contact/{contact_id}"
BATCH_UPDATE_PATH = "/crm/v3/objects/contacts/batch/update"
BATCH_READ_PATH = "/crm/v3/objects/contacts/batch/read"
PROPERTIES_PATH = "/crm/v3/properties/contacts"
OWNERS_PATH = "/crm/v3/owners"

UNENROLL_SEQUENCE = "seqguard_unenroll_sequence"
UNENROLL_REASON = "seqguard_unenroll_reason"
UNENROLL_AT = "seqguard_unenroll_at"
UNENROLL_PROPERTIES = {
    UNENROLL_SEQUENCE: "seqguard: unenroll from sequence",
    UNENROLL_REASON: "seqguard: unenroll reason",
    UNENROLL_AT: "seqguard: unenrolled at",
}
PROPERTY_GROUP = "contactinformation"
MISSING_PROPERTY_FIX = (
    "seqguard reads HubSpot's calculated sequence properties to tell open enrollments "
    "from ended ones; the account must have Sales Hub or Service Hub Professional or "
    "Enterprise (Sequences), and the private app the crm.schemas.contacts.read scope")

BATCH_UPDATE_MAX = 100   # HubSpot's batch limit
STATUS_READERS = 4       # status reads in flight at once; they share the rate limit
TIMEOUT = (10, 60)


class HubSpotSequencer(base.HttpAdapter):
    """HubSpot Sequences for one account; thread-safe (the poster runs calls in parallel)."""

    crm = "hubspot"
    # the workflow acts on the property write, and the write carries the change id
    traceable_kinds = frozenset({"unenroll"})

    def __init__(self, config: HubSpotConfig, limiter: RateLimiter | None = None) -> None:
        token = config.token.resolve(TOKEN_SETTING)
        self.base = config.url.rstrip("/")
        self.user_id = config.user_id
        self.http = base.Http("HubSpot", limiter or configured_limiter(
            "hubspot", config.rate_limit_per_10s, sync_settings.RATE_LIMIT_PER_10S),
            config.ca_cert, base.bearer(token), self._rate_limited, TIMEOUT)
        self._users: dict[str, str | None] = {}  # sender email -> HubSpot user id
        self._default_user: str | None = None
        self._users_lock = threading.Lock()  # one owner lookup per sender, not per thread
        self._property_names: set[str] | None = None  # the account's contact properties
        self._properties_lock = threading.Lock()

    def _call(self, method: str, path: str, *, idempotent: bool, json_body: Any = None,
              params: dict[str, Any] | None = None) -> requests.Response:
        return self.http.call(method, self.base + path, idempotent=idempotent,
                              json_body=json_body, params=params)

    @staticmethod
    def _rate_limited(response: requests.Response) -> bool:
        return response.status_code == 429

    def _user(self, sender: str | None = None) -> dict[str, str]:
        """`userId` for a call: the sender's user when it is an owner, else the configured
        user, else the account's first owner with a user (every v4 call needs one)."""
        with self._users_lock:
            if sender and sender not in self._users:
                self._users[sender] = self._owner_user(sender)
            if sender and self._users[sender]:
                return {"userId": str(self._users[sender])}
            if self.user_id:
                return {"userId": self.user_id}
            if self._default_user is None:
                self._default_user = self._owner_user(None) or ""
        if not self._default_user:
            raise ConfigError(
                "crms.hubspot.user_id: not set and no HubSpot owner has a user; set it to the "
                "id of the HubSpot user seqguard enrolls for"
            )
        return {"userId": self._default_user}

    def _owner_user(self, email: str | None) -> str | None:
        params: dict[str, Any] = {"limit": 100}
        if email:
            params["email"] = email
        response = self._call("GET", OWNERS_PATH, idempotent=True, params=params)
        _raise_for_read(response, "read owners", scope="crm.objects.owners.read")
        users = [o.get("userId") for o in response.json().get("results") or [] if o.get("userId")]
        return str(users[0]) if users else None

    # ---- protocol ----

    def batch_limit(self, kind: str) -> int:
        return BATCH_UPDATE_MAX if kind == "unenroll" else 1

    def prepare(self, kinds: set[str]) -> None:
        """Create the unenroll properties on first use (a 409 means another run did)."""
        if "unenroll" not in kinds:
            return
        for name, label in UNENROLL_PROPERTIES.items():
            if name in self.contact_properties():
                continue
            created = self._call("POST", PROPERTIES_PATH, idempotent=True, json_body={
                "name": name, "label": label, "type": "string", "fieldType": "text",
                "groupName": PROPERTY_GROUP,
                "description": "Written by seqguard; a workflow unenrolls the contact.",
            })
            if created.status_code not in (200, 201, 409):
                raise ConfigError(
                    f"HubSpot: cannot create contact property {name} "
                    f"({created.status_code}: {_message(created)}); give the private app in "
                    f"{TOKEN_SETTING} the crm.schemas.contacts.write scope"
                )
            self.contact_properties().add(name)

    def contact_properties(self) -> set[str]:
        """The names of the account's contact properties (one read, kept for this run)."""
        with self._properties_lock:
            if self._property_names is None:
                response = self._call("GET", PROPERTIES_PATH, idempotent=True)
                _raise_for_read(response, "read the contact properties",
                                scope="crm.schemas.contacts.read")
                self._property_names = {
                    str(p.get("name")) for p in response.json().get("results") or []}
            return self._property_names

    def require_sequence_properties(self) -> None:
        """Fail, naming them, when the account lacks a sequence property seqguard reads."""
        missing = [n for n in sync_settings.SEQUENCE_PROPERTIES
                   if n not in self.contact_properties()]
        if missing:
            raise ConfigError(
                f"HubSpot: contact propert{'ies' if len(missing) > 1 else 'y'} "
                f"{', '.join(missing)} missing from the account's property list "
                f"({PROPERTIES_PATH}); {MISSING_PROPERTY_FIX}")

    def sequences(self) -> pa.Table:
        ids: list[str] = []
        names: list[str] = []
        params: dict[str, Any] = {"limit": 100, **self._user()}
        while True:
            response = self._call("GET", SEQUENCES_PATH, idempotent=True, params=params)
            _raise_for_read(response, "list sequences")
            page = response.json()
            for item in page.get("results") or []:
                ids.append(str(item["id"]))
                names.append(str(item.get("name") or item["id"]))
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return pa.table({"sequence_id": ids, "name": names}, schema=base.SEQUENCE_SCHEMA)
            params["after"] = after

    def enrollments(self, since: datetime | None, contacts: pa.Table | None = None) -> pa.Table:
        """The enrollment each of the given contacts is in, per the status call (`since`
        narrows nothing: HubSpot answers per contact, and the caller chooses them from the
        contacts' sequence properties). State 'active' means open as far as this call
        tells; the caller judges it with the properties. Step: unknown."""
        self.require_sequence_properties()
        ids = [] if contacts is None else sorted(
            {str(c) for c in contacts.column("contact_id").to_pylist() if c})
        rows: list[dict[str, Any]] = []
        for found in _parallel(self._status, ids, STATUS_READERS):
            rows.extend(found)
        return _enrollment_table(rows)

    def written(self, changes: pa.Table) -> pa.Table:
        """Unenroll changes whose property write reached HubSpot (the reason starts with
        the change id), whatever the workflow has done since."""
        unenrolls = changes.filter(pc.equal(changes.column("kind"), "unenroll"))
        wanted = dict(zip(unenrolls.column("contact_id").to_pylist(),
                          unenrolls.column("change_id").to_pylist(), strict=True))
        seen: list[str] = []
        contact_ids = [c for c in wanted if c]
        for start in range(0, len(contact_ids), BATCH_UPDATE_MAX):
            batch = contact_ids[start:start + BATCH_UPDATE_MAX]
            response = self._call("POST", BATCH_READ_PATH, idempotent=True, json_body={
                "inputs": [{"id": c} for c in batch], "properties": [UNENROLL_REASON],
                "propertiesWithHistory": []})
            _raise_for_read(response, "read contacts", ok=(200, 207),
                            scope="crm.objects.contacts.read")
            for record in response.json().get("results") or []:
                reason = (record.get("properties") or {}).get(UNENROLL_REASON) or ""
                change_id = wanted.get(str(record.get("id")))
                if change_id and reason.split(" ", 1)[0] == change_id:
                    seen.append(change_id)
        return pa.table({"change_id": pa.array(seen, pa.string())})

    def enroll(self, changes: pa.Table) -> pa.Table:
        return pa.concat_tables([self._enroll_one(row) for row in changes.to_pylist()])

    def unenroll(self, changes: pa.Table) -> pa.Table:
        """Write the unenroll properties of up to 100 contacts in one batch update."""
        stamp = utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        inputs = [{"id": row["contact_id"], "properties": {
            UNENROLL_SEQUENCE: row["sequence_id"],
            UNENROLL_REASON: f"{row['change_id']} {row['reason'] or ''}".strip(),
            UNENROLL_AT: stamp,
        }} for row in changes.to_pylist()]
        try:
            response = self._call("POST", BATCH_UPDATE_PATH, idempotent=False,
                                  json_body={"inputs": inputs})
        except (base.OutcomeUnknown, base.RateLimitExhausted) as exc:
            return base.same_outcome(changes, "retry", str(exc))
        if response.status_code == 200:
            return base.same_outcome(changes, "sent", response={"status": 200})
        if response.status_code == 207:
            return _partial_batch(changes, response.json())
        return base.same_outcome(changes, "rejected", _refusal(response))

    def pause(self, changes: pa.Table) -> pa.Table:
        return base.same_outcome(changes, "rejected",
                            "HubSpot Sequences has no pause API; unenroll instead")

    def resume(self, changes: pa.Table) -> pa.Table:
        return base.same_outcome(changes, "rejected",
                            "HubSpot Sequences has no resume API; enroll again instead")

    # ---- one call each ----

    def _enroll_one(self, row: dict[str, Any]) -> pa.Table:
        if not row.get("sender"):
            return base.results([{"change_id": row["change_id"], "outcome": "rejected",
                             "error": "no sender: HubSpot enrolls on behalf of a user's "
                                      "connected inbox and the contact has no owner; set the "
                                      "play's sender, pass --sender, or set default_sender "
                                      "in seqguard.yml"}])
        body = {"sequenceId": row["sequence_id"], "contactId": row["contact_id"],
                "senderEmail": row["sender"]}
        try:
            response = self._call("POST", ENROLL_PATH, idempotent=False, json_body=body,
                                  params=self._user(row["sender"]))
        except (base.OutcomeUnknown, base.RateLimitExhausted) as exc:
            return base.results([{"change_id": row["change_id"], "outcome": "retry",
                             "error": str(exc)}])
        if response.status_code in (200, 201):
            data = response.json()
            note = base.restart_note("HubSpot", row.get("start_step"), step_known=False)
            return base.results([{"change_id": row["change_id"], "outcome": "sent",
                             "enrollment_id": data.get("id"),
                             "response": data | ({"seqguard_note": note} if note else {})}])
        return base.results([{"change_id": row["change_id"], "outcome": "rejected",
                         "error": _refusal(response)}])

    def _status(self, contact_id: str) -> list[dict[str, Any]]:
        """The status call: no `userId` (get-enrollment documents only the contactId). A
        404 is a contact in no sequence (or no such contact): nothing to add."""
        response = self._call("GET", STATUS_PATH.format(contact_id=contact_id),
                              idempotent=True)
        if response.status_code == 404:
            return []
        _raise_for_read(response, "read enrollment status")
        data = response.json()
        if not isinstance(data, dict) or not data.get("id"):
            return []
        return [_enrollment_row(data, contact_id)]


def _parallel(fn: Callable[[str], list[dict[str, Any]]], items: list[str],
              workers: int) -> Iterable[list[dict[str, Any]]]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def _enrollment_row(item: dict[str, Any], contact_id: str) -> dict[str, Any]:
    """One PublicSequenceEnrollmentResponse as an enrollment row: only its documented
    fields (id, toEmail, sequenceId, enrolledAt, updatedAt) are read."""
    return {
        "enrollment_id": str(item["id"]),
        "sequence_id": str(item.get("sequenceId") or ""),
        "email": (item.get("toEmail") or "").strip().lower() or None,
        "contact_id": contact_id,
        "state": "active",
        "step": None,
        "enrolled_at": _time(item.get("enrolledAt")),
        "updated_at": _time(item.get("updatedAt")),
    }


def _enrollment_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=base.ENROLLMENT_SCHEMA)


def _time(text: Any) -> datetime | None:
    return parse_iso(str(text)) if text else None


def _partial_batch(changes: pa.Table, data: dict[str, Any]) -> pa.Table:
    """A 207: the contacts named in `errors` were not written, the rest were."""
    failed: dict[str, str] = {}
    for error in data.get("errors") or []:
        text = f"{error.get('category', 'ERROR')}: {error.get('message', '')}"
        for contact_id in (error.get("context") or {}).get("ids") or []:
            failed[str(contact_id)] = text
    rows = []
    for change_id, contact_id in zip(changes.column("change_id").to_pylist(),
                                     changes.column("contact_id").to_pylist(), strict=True):
        if contact_id in failed:
            rows.append({"change_id": change_id, "outcome": "rejected",
                         "error": failed[contact_id]})
        else:
            rows.append({"change_id": change_id, "outcome": "sent", "response": {"status": 207}})
    return base.results(rows)


def _refusal(response: requests.Response) -> str:
    """HubSpot's reason in one line: `SUBCATEGORY: message` (e.g. ALREADY_ENROLLED)."""
    try:
        data = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if not isinstance(data, dict):
        return f"HTTP {response.status_code}: {str(data)[:200]}"
    code = data.get("subCategory") or data.get("category") or f"HTTP {response.status_code}"
    return f"{code}: {data.get('message', '')}".strip()


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
        return str(data.get("message", ""))[:200] if isinstance(data, dict) else str(data)[:200]
    except ValueError:
        return response.text[:200]


def _raise_for_read(response: requests.Response, what: str, ok: tuple[int, ...] = (200,),
                    scope: str = "automation.sequences.read") -> None:
    if response.status_code in ok:
        return
    if response.status_code == 403:
        raise ConfigError(
            f"HubSpot refused to {what} (403: {_message(response)}); give the private app in "
            f"{TOKEN_SETTING} the {scope} scope"
        )
    raise base.RateLimitExhausted(
        f"HubSpot answered {response.status_code} to {what} ({_message(response)}); "
        "the changes stay pending for the next run"
    )
