"""What Apollo's answers mean to seqguard: documented fields in, seqguard's rows out.

Sequence statuses. A contact's `contact_campaign_statuses` (in every contact Apollo
answers: "Search for Contacts", https://docs.apollo.io/reference/search-for-contacts,
"View a Contact", https://docs.apollo.io/reference/view-a-contact, and the add/remove
answers) hold one entry per sequence the contact is in: `id`, `emailer_campaign_id`,
`status`, `added_at`, `finished_at`, `paused_at`. A sequence's `contact_statuses` counts
name the statuses: active, paused, finished, bounced, failed, not_sent (the legacy
reference's add example, https://apolloio.github.io/apollo-api-docs/?shell#add-contacts-to-sequence).
seqguard's state: active -> active, paused -> paused, finished -> finished. bounced,
failed and not_sent are stopped but still in the sequence (Apollo lets a user retry or
resume them), so they count as paused: open, so seqguard still unenrolls them and never
adds the person to a second sequence; any status the reference does not name counts as
paused too. A contact removed from a sequence has no status there (the legacy reference's
remove example answers `contact_campaign_statuses: []`), so a removal shows as the
enrollment vanishing from a complete read. The step: `current_step_position` is
documented only by name (null in every example), so whether the current step has been
sent is unknown: the step is left unknown (null).

Rate limits ("Rate Limits", https://docs.apollo.io/reference/rate-limits): a fixed window
a minute, an hour and a day; the headers of an answer say what is left of each
(`x-minute-requests-left`, `x-hourly-requests-left`, `x-daily-requests-left`). A 429 is
Apollo's "too many requests" ("Errors", https://docs.apollo.io/reference/errors-1); its
body is not documented, so only the status and those headers are read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import requests

from tasks.post.sequencers.base import ENROLLMENT_SCHEMA

STATES = {"active": "active", "paused": "paused", "finished": "finished"}
OPEN = ("active", "paused")
ERROR_CHARS = 300   # a remote error message is cut to this in outbox rows
# the budgets past which Apollo refuses until the window turns: an hour's or a day's
LONG_WINDOWS = ("x-hourly-requests-left", "x-daily-requests-left")
# the reply classes of "Search for Outreach Emails" that are a reply for seqguard's rules:
# all but out_of_office, which the built-in rules do not count
REPLY_CLASSES = ("willing_to_meet", "follow_up_question", "person_referral",
                 "already_left_company_or_not_right_person", "not_interested", "unsubscribe",
                 "none_of_the_above")


def state_of(status: Any) -> str:
    return STATES.get(str(status or ""), "paused")


def enrollment_rows(contact: dict[str, Any]) -> list[dict[str, Any]]:
    """ENROLLMENT_SCHEMA rows of one contact's sequence statuses."""
    email = (contact.get("email") or "").strip().lower() or None
    rows = []
    for status in contact.get("contact_campaign_statuses") or []:
        if not isinstance(status, dict) or not status.get("id"):
            continue
        added = parse_time(status.get("added_at"))
        changed = parse_time(status.get("finished_at")) or parse_time(status.get("paused_at"))
        rows.append({
            "enrollment_id": str(status["id"]),
            "sequence_id": str(status.get("emailer_campaign_id") or ""),
            "email": email,
            "contact_id": str(contact.get("id") or ""),
            "state": state_of(status.get("status")),
            "step": None,
            "enrolled_at": added,
            "updated_at": max(t for t in (added, changed) if t) if added or changed else None,
        })
    return rows


def open_campaigns(contact: dict[str, Any]) -> set[str]:
    """The sequences the contact is open in (active or paused for seqguard)."""
    return {str(s.get("emailer_campaign_id")) for s in contact.get("contact_campaign_statuses")
            or [] if isinstance(s, dict) and state_of(s.get("status")) in OPEN}


def add_outcome(contact: dict[str, Any] | None, campaign: str) -> dict[str, Any]:
    """What an add_contact_ids answer says of one contact it was asked to add: in the
    sequence now (open) -> confirmed, with its status id; otherwise Apollo skipped it, and
    the documented answer gives no reason beyond the contact's own fields."""
    if contact is None:
        return {"outcome": "rejected",
                "error": "Apollo's answer does not list the contact: it was not added "
                         "(no such contact?)"}
    here = [s for s in contact.get("contact_campaign_statuses") or []
            if isinstance(s, dict) and str(s.get("emailer_campaign_id")) == campaign]
    if any(state_of(s.get("status")) in OPEN for s in here):
        mine = next(s for s in here if state_of(s.get("status")) in OPEN)
        return {"outcome": "confirmed", "enrollment_id": str(mine.get("id")),
                "response": {"status": mine.get("status"), "added_at": mine.get("added_at")}}
    return {"outcome": "rejected", "error": skip_reason(contact, here)}


def skip_reason(contact: dict[str, Any], here: list[dict[str, Any]]) -> str:
    """Why Apollo did not add the contact, as far as its documented fields tell."""
    others = open_campaigns(contact)
    if here:
        return ("already went through this sequence (Apollo sends each step once; its "
                f"status there is {here[0].get('status')})")
    if others:
        return (f"already in another sequence ({', '.join(sorted(others))}); seqguard "
                "keeps one open sequence per person")
    if not contact.get("email"):
        return "the contact has no email address"
    status = contact.get("email_status")
    if status and status != "verified":
        return f"the contact's email is {status}, not verified"
    return ("Apollo skipped the contact without a documented reason (unsubscribed, "
            "bounced, or finished another sequence?)")


def budget_spent(response: requests.Response) -> str | None:
    """The hour's or day's budget when an answer says it is used up, else None."""
    for header in LONG_WINDOWS:
        if response.headers.get(header, "").strip() == "0":
            return header
    return None


def error_line(response: requests.Response) -> str:
    """`HTTP n: message` of an error answer, whatever its body, cut short."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = str(body.get("error") or body.get("message") or body)
    else:
        detail = " ".join(response.text.split())
    return f"HTTP {response.status_code}: {detail}"[:ERROR_CHARS]


def parse_time(text: Any) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def enrollment_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=ENROLLMENT_SCHEMA)
