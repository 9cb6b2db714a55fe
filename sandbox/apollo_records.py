"""Apollo's records as its REST API v1 shapes them, over the sandbox's own tables.

Ids look like Apollo's: 24 hex characters (a MongoDB ObjectId, as every id in the
reference's examples is, e.g. contact `66e34b81740c50074e3d1bd4`). The sandbox writes an
8-character prefix per kind (taken from those examples) and its own row id in 16 hex
digits, so an id names its row; a sequence (emailer campaign) id is the first 24 hex
digits of md5('apollo-sequence:' || the sandbox sequence id). seqguard reads no meaning
into an id.

Each shape carries the documented fields seqguard or a test reads, a subset of the
reference's examples (pages cited per shape); nothing Apollo lacks:
- contact: "Search for Contacts" (https://docs.apollo.io/reference/search-for-contacts)
  and the add/remove answers, with `contact_campaign_statuses`, one per sequence the
  contact is in (id, emailer_campaign_id, status, added_at, finished_at, paused_at,
  current_step_position, send_email_from_email_account_id, ...: the example of "Add
  Contacts to a Sequence", https://docs.apollo.io/reference/add-contacts-to-sequence,
  and of the legacy reference https://apolloio.github.io/apollo-api-docs/?shell#sequences);
- emailer campaign: "Search for Sequences"
  (https://docs.apollo.io/reference/search-for-sequences);
- email account: "Get a List of Email Accounts"
  (https://docs.apollo.io/reference/get-a-list-of-email-accounts), and the legacy
  reference's example (https://apolloio.github.io/apollo-api-docs/?shell#get-a-list-of-email-accounts).
(Emailer messages: sandbox/apollo_messages.py.)

A sequence status maps the shared sequencer's truth: active -> `active`; paused ->
`paused`, or `bounced` when a bounce stopped it; finished -> `finished`. A contact removed
from a sequence (mode `remove`) has no status there any more (the legacy reference's
remove example answers `contact_campaign_statuses: []`). Apollo's status and the step are
all a caller sees; why an enrollment changed stays behind `/_sandbox/enrollments`.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from sandbox.state import SandboxState

SEQUENCER = "apollo"
PREFIX = {"contact": "66e34b81", "email_account": "6633baae", "user": "66302798",
          "status": "66e9e2a0", "message": "684b2203"}
OBJECT_ID = re.compile(r"[0-9a-f]{24}")
CAMPAIGN_SALT = "apollo-sequence:"


def object_id(kind: str, row_id: int) -> str:
    return f"{PREFIX[kind]}{row_id:016x}"


def object_id_sql(kind: str, column: str) -> str:
    return f"('{PREFIX[kind]}' || printf('%016x', cast({column} as bigint)))"


def row_id(kind: str, text: Any) -> int | None:
    """The sandbox row an id names, or None (not an id of that kind)."""
    value = str(text or "")
    if not OBJECT_ID.fullmatch(value) or not value.startswith(PREFIX[kind]):
        return None
    return int(value[8:], 16)


def is_object_id(text: Any) -> bool:
    return bool(OBJECT_ID.fullmatch(str(text or "")))


def campaign_id(sequence_id: str) -> str:
    return hashlib.md5(f"{CAMPAIGN_SALT}{sequence_id}".encode()).hexdigest()[:24]


CAMPAIGN_ID_SQL = f"substr(md5('{CAMPAIGN_SALT}' || s.id), 1, 24)"


def iso_z(value: datetime | None) -> str | None:
    """`2020-07-27T01:23:36.898Z`, the contacts' and campaigns' timestamp form."""
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def iso_offset(value: datetime | None) -> str | None:
    """`2020-08-26T17:53:02.533+00:00`, the campaign statuses' timestamp form."""
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"


def sequence_of(state: SandboxState, campaign: str) -> dict | None:
    """The sandbox sequence an emailer campaign id names: {id, name, steps, created_at}."""
    if not is_object_id(campaign):
        return None
    rows = state.rows(f"select s.* from sb_sequences s where {CAMPAIGN_ID_SQL} = ?",
                      [campaign])
    if not rows:
        return None
    rows[0]["steps"] = json.loads(rows[0]["steps"])
    return rows[0]


def campaign_json(sequence: dict) -> dict[str, Any]:
    """An emailer campaign ("Search for Sequences" example fields)."""
    return {"id": campaign_id(sequence["id"]), "name": sequence["name"], "archived": False,
            "created_at": iso_z(sequence["created_at"]), "active": True,
            "num_steps": len(sequence["steps"]), "label_ids": [], "user_id": None}


def email_accounts(state: SandboxState) -> list[dict[str, Any]]:
    """Every sender as an email account (the legacy reference's example fields)."""
    rows = state.rows("select id, email from sb_senders where sequencer = ? order by id",
                      [SEQUENCER])
    return [{"id": object_id("email_account", r["id"]), "user_id": object_id("user", r["id"]),
             "email": r["email"], "aliases": [], "type": "gmail", "active": True,
             "default": n == 0, "provider_display_name": "Gmail"}
            for n, r in enumerate(rows)]


def sender_of(state: SandboxState, account_id: str) -> dict | None:
    """The sender an email account id names: {id, email}."""
    number = row_id("email_account", account_id)
    if number is None:
        return None
    rows = state.rows("select id, email from sb_senders where sequencer = ? and id = ?",
                      [SEQUENCER, number])
    return rows[0] if rows else None


def contacts_json(state: SandboxState, person_ids: list[int]) -> list[dict[str, Any]]:
    """The contacts (in the order given, unknown ids left out) with their sequence
    statuses."""
    if not person_ids:
        return []
    people = {r["id"]: r for r in state.rows(
        """select id, email, created_at, updated_at from sb_people
           where sequencer = ? and list_contains(?, id)""", [SEQUENCER, person_ids])}
    statuses: dict[int, list[dict[str, Any]]] = {}
    for row in state.rows(
            f"""select e.id, cast(e.contact_id as bigint) as person_id, e.state, e.step,
                       e.reason, e.enrolled_at, e.updated_at, {CAMPAIGN_ID_SQL} as campaign,
                       json_array_length(s.steps) as step_count, e.sender, o.id as sender_id
                from sb_enrollments e join sb_sequences s on s.id = e.sequence_id
                left join sb_senders o on o.sequencer = e.crm and o.email = lower(e.sender)
                where e.crm = ? and e.state <> 'unenrolled'
                  and list_contains(?, cast(e.contact_id as bigint))
                order by e.enrolled_at, e.id""", [SEQUENCER, person_ids]):
        statuses.setdefault(row["person_id"], []).append(_status_json(row))
    return [_contact_json(people[p], statuses.get(p, [])) for p in person_ids if p in people]


def _contact_json(person: dict, statuses: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": object_id("contact", person["id"]), "first_name": None, "last_name": None,
            "name": None, "email": person["email"], "email_status": "verified",
            "owner_id": None, "created_at": iso_z(person["created_at"]),
            "updated_at": iso_z(person["updated_at"]),
            "emailer_campaign_ids": sorted({s["emailer_campaign_id"] for s in statuses}),
            "contact_campaign_statuses": statuses, "label_ids": [], "typed_custom_fields": {}}


def _status_json(row: dict) -> dict[str, Any]:
    """One `contact_campaign_statuses` entry. current_step_position: the step the contact
    is at (the one after those sent; the last once finished)."""
    status = {"active": "active", "finished": "finished"}.get(
        row["state"], "bounced" if row["reason"] == "bounced" else "paused")
    at_step = min(row["step"] + (0 if row["state"] == "finished" else 1), row["step_count"])
    sender = row["sender_id"]
    return {
        "id": object_id("status", row["id"]),
        "emailer_campaign_id": row["campaign"],
        "send_email_from_user_id": object_id("user", sender) if sender else None,
        "inactive_reason": None,
        "status": status,
        "added_at": iso_offset(row["enrolled_at"]),
        "added_by_user_id": object_id("user", sender) if sender else None,
        "finished_at": iso_offset(row["updated_at"]) if status == "finished" else None,
        "paused_at": iso_offset(row["updated_at"]) if status in ("paused", "bounced") else None,
        "auto_unpause_at": None,
        "send_email_from_email_address": row["sender"],
        "send_email_from_email_account_id": (
            object_id("email_account", sender) if sender else None),
        "manually_set_unpause": None,
        "failure_reason": None,
        "current_step_id": None,
        "current_step_position": at_step or None,
    }
