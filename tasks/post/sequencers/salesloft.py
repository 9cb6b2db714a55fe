"""Salesloft cadences behind the Sequencer protocol, from documented data only.

Salesloft holds people of its own (an `OwnPeopleSequencer`): seqguard finds them by email
(`GET /v2/people?email_addresses=`, 100 per call) and never creates one. Pages: the
Cadence Memberships reference (https://developers.salesloft.com/docs/api/cadence-memberships/)
and Salesloft's API definition (developers.salesloft.com/v2_api_def.json, which spells each
path with `.json`); HTTP, limits, paging and errors in salesloft_client.py;
tests/contract/test_salesloft.py pins each request and answer.

- Enroll: `POST /v2/cadence_memberships?person_id=&cadence_id=[&user_id=][&step_id=]`, one
  person per call (no batch form answers per person). `user_id` is the Salesloft user whose
  email is the change's sender (else the configured sender; with neither, Salesloft's
  documented default, the authenticated user); `step_id` starts mid-cadence, so a
  recovery starts at its step. The API takes no key of the caller's, so the outbox row id
  cannot travel with the request: a row in doubt is never resent before its person's
  memberships are read (`traceable_kinds` is empty; a person is added to a cadence once,
  "a single membership record", whose `added_at` tells a fresh add from an old one).
- Unenroll: the person's memberships on the cadence (or every cadence) that are
  `currently_on_cadence`, each `DELETE /v2/cadence_memberships/{id}` (204: "The person has
  been removed from the cadence"). None on it: the effect is already there.
- Pause / resume: Salesloft documents neither for a membership (list, create, fetch,
  delete only): refused, with the reason, per change.
- State: memberships changed since a time (`updated_at[gte]`, cursor-polled) plus every
  membership of given people (`person_id`). `currently_on_cadence` true is active (no
  paused state is documented: the processing, staged, active and scheduled states are all
  on the cadence); `removed` ("manually or automatically removed") and `removed_no_action`
  are unenrolled; `completed`, `reassigned` and any other are finished. The step is the
  position, in the cadence's steps ordered by `day` then `step_number`, of the person's
  `last_completed_step` when its `last_completed_step_cadence` is this cadence; 0 for a
  membership staged or removed before any action; else unknown.
- Activity: emails changed since a time (`GET /v2/activities/emails`): each sent one
  (`status` sent, sent_from_gmail or sent_from_external) is the sequencer's own send, a
  `bounced` one a bounce, one with `counts.replies` a reply; people with `do_not_contact`
  changed since then are opt-outs. Salesloft records no reply, bounce or opt-out time on
  these records: such a row's occurred_at is when Salesloft recorded it (the record's
  updated_at), and whether a reply was an out-of-office is unknown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from tasks.core.config import SequencerConfig
from tasks.core.errors import ConfigError, SyncError
from tasks.post.sequencers import base
from tasks.post.sequencers.salesloft_client import PER_PAGE, SalesloftClient, csv, error_line
from tasks.sync.limiter import RateLimiter

MEMBERSHIPS = "/v2/cadence_memberships"
PEOPLE = "/v2/people"
CADENCES = "/v2/cadences"
STEPS = "/v2/steps"
USERS = "/v2/users"
EMAILS = "/v2/activities/emails"
# Email.status values of an email that went out
SENT_STATUSES = ("sent", "sent_from_gmail", "sent_from_external")
UNENROLLED_STATES = ("removed", "removed_no_action")
NOTHING_DONE_STATES = ("staged", "removed_no_action")
READERS = 4   # per-person reads in flight at once; they share the limiter
NO_PAUSE = ("Salesloft's API has no pause or resume for a cadence membership (only list, "
            "create, fetch and delete); unenroll instead")


class SalesloftSequencer(base.HttpAdapter):
    """One Salesloft team's cadences; thread-safe."""

    crm = "salesloft"
    traceable_kinds: frozenset[str] = frozenset()

    def __init__(self, config: SequencerConfig, limiter: RateLimiter | None = None) -> None:
        self.client = SalesloftClient(config, limiter)
        self.http = self.client.http
        self.default_sender = config.sender
        self._lock = threading.Lock()
        self._users: dict[str, int] | None = None
        self._cadences: dict[str, int] | None = None       # name -> id
        self._steps: dict[int, dict[int, int]] = {}         # cadence -> step id -> position


    def batch_limit(self, kind: str) -> int:
        return 1  # every membership call names one person

    def prepare(self, kinds: set[str]) -> None:
        return None  # nothing to set up

    def sequences(self) -> pa.Table:
        rows = [{"sequence_id": str(c["id"]), "name": c.get("name") or str(c["id"])}
                for c in self.client.pages(CADENCES, {}, "list cadences")]
        return pa.Table.from_pylist(rows, schema=base.SEQUENCE_SCHEMA)

    def people(self, emails: pa.Table) -> pa.Table:
        """Salesloft's person for each email it knows (email_address, case-insensitive);
        an email holding a comma cannot be asked for (commas separate the filter's values)."""
        wanted = sorted({e.strip().lower() for e in emails.column("email").to_pylist()
                         if e and "@" in e and "," not in e})
        found: dict[str, int] = {}
        for start in range(0, len(wanted), PER_PAGE):
            batch = set(wanted[start:start + PER_PAGE])
            for person in self.client.pages(PEOPLE, {"email_addresses": csv(sorted(batch))},
                                            "look people up by email", max_pages=2):
                email = str(person.get("email_address") or "").strip().lower()
                if email in batch and (email not in found or person["id"] < found[email]):
                    found[email] = int(person["id"])
        return pa.Table.from_pylist([{"email": e, "contact_id": str(i)}
                                     for e, i in sorted(found.items())], schema=base.PEOPLE_SCHEMA)

    def enrollments(self, since: datetime | None, contacts: pa.Table | None = None) -> pa.Table:
        """Memberships changed since `since`, plus every membership of the people in
        `contacts`, with email and step. No `since`: every membership (a first read), unless
        some `contacts` are given (the poster's read-back of changes in doubt), as the other
        adapters read."""
        found: dict[int, dict[str, Any]] = {}
        if since is not None or contacts is None or contacts.num_rows == 0:
            for membership in self.client.poll(MEMBERSHIPS, {}, since, "list memberships"):
                found[membership["id"]] = membership
        people = [] if contacts is None else sorted(
            {int(c) for c in contacts.column("contact_id").to_pylist() if _is_id(c)})
        for memberships in _parallel(self._memberships_of, people):
            found.update((m["id"], m) for m in memberships)
        persons = self._people_by_id({_ref(m, "person") for m in found.values()} - {None})
        self._load_steps({_ref(p, "last_completed_step_cadence") for p in persons.values()}
                         - {None})
        rows = [self._enrollment_row(m, persons) for m in found.values()]
        return pa.Table.from_pylist(rows, schema=base.ENROLLMENT_SCHEMA)

    def enroll(self, changes: pa.Table) -> pa.Table:
        rows = changes.to_pylist()
        try:
            users = self._user_ids() if any(r["sender"] or self.default_sender
                                            for r in rows) else {}
        except (ConfigError, SyncError) as exc:
            return base.same_outcome(changes, "retry", str(exc))
        return base.results([self._enroll_one(r, users) for r in rows])

    def unenroll(self, changes: pa.Table) -> pa.Table:
        return base.results([self._unenroll_one(r) for r in changes.to_pylist()])

    def pause(self, changes: pa.Table) -> pa.Table:
        return base.same_outcome(changes, "rejected", NO_PAUSE)

    def resume(self, changes: pa.Table) -> pa.Table:
        return base.same_outcome(changes, "rejected", NO_PAUSE)

    def activity(self, since: datetime | None) -> pa.Table:
        """Sends, bounces and replies from the emails changed since `since`, and opt-outs
        from the people marked do not contact changed since then."""
        rows: list[dict[str, Any]] = []
        for email in self.client.poll(EMAILS, {}, since, "list emails"):
            rows += _email_activity(email)
        for person in self.client.poll(PEOPLE, {"do_not_contact": "true"}, since,
                                       "list people marked do not contact"):
            rows.append({"activity_id": f"person:{person['id']}:do_not_contact",
                         "email": _email(person.get("email_address")),
                         "contact_id": str(person["id"]), "kind": "unsubscribe",
                         "sequence_id": None, "occurred_at": _time(person.get("updated_at")),
                         "updated_at": _time(person.get("updated_at"))})
        return pa.Table.from_pylist(rows, schema=base.ACTIVITY_SCHEMA)


    def _enroll_one(self, row: dict[str, Any], users: dict[str, int]) -> dict[str, Any]:
        change = row["change_id"]
        try:
            params = self._enroll_params(row, users)
        except (ConfigError, SyncError) as exc:
            return {"change_id": change, "outcome": "retry", "error": str(exc)}
        if isinstance(params, str):
            return {"change_id": change, "outcome": "rejected", "error": params}
        try:
            response = self.client.call("POST", MEMBERSHIPS, idempotent=False, params=params)
        except (base.OutcomeUnknown, base.RateLimitExhausted) as exc:
            return {"change_id": change, "outcome": "retry", "error": str(exc)}
        if response.status_code in (200, 201):
            data = (response.json() or {}).get("data") or {}
            return {"change_id": change, "outcome": "sent",
                    "enrollment_id": str(data.get("id") or "") or None, "response": data}
        outcome = "retry" if response.status_code == 403 else "rejected"
        return {"change_id": change, "outcome": outcome,
                "error": f"Salesloft refused to add the person: {error_line(response)}"}

    def _enroll_params(self, row: dict[str, Any], users: dict[str, int]
                       ) -> dict[str, Any] | str:
        """The create call's query, or why it cannot be made."""
        if not _is_id(row["contact_id"]):
            return f"no Salesloft person for {row['email']}; look people up by email first"
        cadence = self._cadence_id(row["sequence_id"])
        if cadence is None:
            return f"no Salesloft cadence {row['sequence_id']!r}; name it by id or name"
        params: dict[str, Any] = {"person_id": int(row["contact_id"]), "cadence_id": cadence}
        sender = row["sender"] or self.default_sender
        if sender:
            if sender.strip().lower() not in users:
                return (f"no Salesloft user with email {sender}; set the play's sender (or "
                        "sequencers.salesloft.sender) to a user of the team")
            params["user_id"] = users[sender.strip().lower()]
        if row.get("start_step") and row["start_step"] > 1:
            step = self._step_id(cadence, int(row["start_step"]))
            if isinstance(step, str):
                return step
            params["step_id"] = step
        return params

    def _unenroll_one(self, row: dict[str, Any]) -> dict[str, Any]:
        change = row["change_id"]
        if not _is_id(row["contact_id"]):
            return {"change_id": change, "outcome": "rejected",
                    "error": f"no Salesloft person for {row['email']}"}
        params: dict[str, Any] = {"person_id": int(row["contact_id"]),
                                  "currently_on_cadence": "true"}
        try:
            if row["sequence_id"] != "*":
                cadence = self._cadence_id(row["sequence_id"])
                if cadence is None:
                    return {"change_id": change, "outcome": "rejected",
                            "error": f"no Salesloft cadence {row['sequence_id']!r}"}
                params["cadence_id"] = cadence
            on_cadence = list(self.client.pages(MEMBERSHIPS, params, "list memberships"))
        except (ConfigError, SyncError) as exc:
            return {"change_id": change, "outcome": "retry", "error": str(exc)}
        if not on_cadence:
            return {"change_id": change, "outcome": "confirmed",
                    "response": {"currently_on_cadence": 0}}
        removed = []
        for membership in on_cadence:
            problem = self._remove(int(membership["id"]))
            if problem is not None:
                return {"change_id": change, **problem}
            removed.append(membership["id"])
        return {"change_id": change, "outcome": "sent", "response": {"removed": removed},
                "enrollment_id": str(removed[0]) if len(removed) == 1 else None}

    def _remove(self, membership_id: int) -> dict[str, Any] | None:
        """DELETE one membership: None once it is off the cadence, else the outcome."""
        path = f"{MEMBERSHIPS}/{membership_id}"
        try:
            response = self.client.call("DELETE", path, idempotent=False)
            if response.status_code == 204:
                return None
            # not the documented 204: whether the person is still on it decides
            current = self.client.read(path, {}, "read a membership").get("data") or {}
        except (base.OutcomeUnknown, base.RateLimitExhausted, ConfigError, SyncError) as exc:
            return {"outcome": "retry", "error": str(exc)}
        if not current.get("currently_on_cadence"):
            return None
        outcome = "retry" if response.status_code == 403 else "rejected"
        return {"outcome": outcome,
                "error": f"Salesloft refused to remove the person: {error_line(response)}"}


    def _memberships_of(self, person_id: int) -> list[dict[str, Any]]:
        return list(self.client.pages(MEMBERSHIPS, {"person_id": person_id},
                                      "list a person's memberships"))

    def _people_by_id(self, ids: set[int]) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), PER_PAGE):
            batch = set(ordered[start:start + PER_PAGE])
            for person in self.client.pages(PEOPLE, {"ids": csv(sorted(batch))},
                                            "read people", max_pages=2):
                if person.get("id") in batch:
                    found[int(person["id"])] = person
        return found

    def _user_ids(self) -> dict[str, int]:
        """User email -> id; `GET /v2/users` without `page` answers every user at once."""
        with self._lock:
            if self._users is None:
                body = self.client.read(USERS, {}, "list users")
                self._users = {str(u["email"]).strip().lower(): int(u["id"])
                               for u in body.get("data") or [] if u.get("email")}
            return self._users

    def _cadence_id(self, sequence: str) -> int | None:
        """A cadence by id, or else by its exact name."""
        if _is_id(sequence):
            return int(sequence)
        with self._lock:
            if self._cadences is None:
                self._cadences = {str(c.get("name")): int(c["id"]) for c in
                                  self.client.pages(CADENCES, {}, "list cadences")}
            return self._cadences.get(sequence)

    def _load_steps(self, cadences: set[int]) -> None:
        """Each cadence's step positions: its steps ordered by day, then step_number."""
        for cadence in sorted(cadences - set(self._steps)):
            steps = sorted(self.client.pages(STEPS, {"cadence_id": cadence}, "list steps"),
                           key=lambda s: (s.get("day") or 0, s.get("step_number") or 0,
                                          s["id"]))
            with self._lock:
                self._steps[cadence] = {int(s["id"]): n for n, s in enumerate(steps, 1)}

    def _step_id(self, cadence: int, position: int) -> int | str:
        self._load_steps({cadence})
        by_position = {n: step for step, n in self._steps[cadence].items()}
        if position not in by_position:
            return (f"Salesloft cadence {cadence} has no step {position} (it has "
                    f"{len(by_position)})")
        return by_position[position]

    def _enrollment_row(self, membership: dict[str, Any],
                        persons: dict[int, dict[str, Any]]) -> dict[str, Any]:
        person_id = _ref(membership, "person")
        cadence = _ref(membership, "cadence")
        person = persons.get(person_id) if person_id is not None else None
        return {
            "enrollment_id": str(membership["id"]),
            "sequence_id": None if cadence is None else str(cadence),
            "email": _email((person or {}).get("email_address")),
            "contact_id": None if person_id is None else str(person_id),
            "state": membership_state(membership),
            "step": self._step_of(membership, cadence, person),
            "enrolled_at": _time(membership.get("added_at")),
            "updated_at": _time(membership.get("updated_at")),
        }

    def _step_of(self, membership: dict[str, Any], cadence: int | None,
                 person: dict[str, Any] | None) -> int | None:
        if membership.get("current_state") in NOTHING_DONE_STATES:
            return 0
        if person is None or cadence is None or \
                _ref(person, "last_completed_step_cadence") != cadence:
            return None
        return self._steps.get(cadence, {}).get(_ref(person, "last_completed_step") or 0)


def membership_state(membership: dict[str, Any]) -> str:
    """seqguard's state of a CadenceMembership (no paused state is documented)."""
    if membership.get("currently_on_cadence"):
        return "active"
    return "unenrolled" if membership.get("current_state") in UNENROLLED_STATES else "finished"


def _email_activity(email: dict[str, Any]) -> list[dict[str, Any]]:
    """The activity rows one Email record holds: its send, its bounce, its reply."""
    base = {"email": _email(email.get("recipient_email_address")),
            "contact_id": None if _ref(email, "recipient") is None
            else str(_ref(email, "recipient")),
            "sequence_id": None if _ref(email, "cadence") is None
            else str(_ref(email, "cadence")),
            "updated_at": _time(email.get("updated_at"))}
    rows = []
    if email.get("status") in SENT_STATUSES and email.get("sent_at"):
        rows.append({**base, "activity_id": f"email:{email['id']}", "kind": "sent",
                     "occurred_at": _time(email["sent_at"])})
    if email.get("bounced"):
        rows.append({**base, "activity_id": f"email:{email['id']}:bounce", "kind": "bounce",
                     "occurred_at": base["updated_at"]})
    if ((email.get("counts") or {}).get("replies") or 0) > 0:
        rows.append({**base, "activity_id": f"email:{email['id']}:reply", "kind": "reply",
                     "occurred_at": base["updated_at"]})
    return rows


def _ref(record: dict[str, Any], name: str) -> int | None:
    """The id of an EmbeddedResource field (`{"_href", "id"}`), or None."""
    embedded = record.get(name)
    return int(embedded["id"]) if isinstance(embedded, dict) and embedded.get("id") else None


def _is_id(value: Any) -> bool:
    return isinstance(value, str | int) and str(value).isdigit() and int(value) > 0


def _email(value: Any) -> str | None:
    return str(value).strip().lower() or None if value else None


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _parallel(fn: Callable[[int], list[dict[str, Any]]],
              items: list[int]) -> Iterable[list[dict[str, Any]]]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return list(pool.map(fn, items))
