"""Apollo (REST API v1) behind the Sequencer protocol, from documented calls only.

Calls (https://api.apollo.io/api/v1/..., parameters in the query as the reference lists
them; the key, the rate budget and paging: apollo_client.py; what each answer means:
apollo_wire.py):
- `POST emailer_campaigns/search` (q_name, page, per_page): sequences
  (https://docs.apollo.io/reference/search-for-sequences);
- `POST contacts/search` (q_keywords, page, per_page): contacts, each with its sequence
  statuses (https://docs.apollo.io/reference/search-for-contacts); `GET contacts/{id}`:
  one contact (https://docs.apollo.io/reference/view-a-contact);
- `GET email_accounts`: the sending accounts, by email
  (https://docs.apollo.io/reference/get-a-list-of-email-accounts);
- `POST emailer_campaigns/{id}/add_contact_ids` (emailer_campaign_id, contact_ids[],
  send_email_from_email_account_id, sequence_active_in_other_campaigns=false,
  sequence_finished_in_other_campaigns=true): enroll, up to 100 contacts a call
  (https://docs.apollo.io/reference/add-contacts-to-sequence);
- `POST emailer_campaigns/remove_or_stop_contact_ids` (emailer_campaign_ids[],
  contact_ids[], mode=remove): unenroll
  (https://docs.apollo.io/reference/update-contact-status-sequence);
- `GET emailer_messages/search` (emailer_message_stats[], emailer_message_reply_classes[],
  emailer_message_date_range_mode/[min], page, per_page): activity
  (https://docs.apollo.io/reference/search-for-outreach-emails).
Every call but contacts/search needs a master API key; without one Apollo answers 403.

Why `mode=remove` for an unenroll: it is Apollo's "remove the contacts from the
sequence", which is what seqguard's unenroll means (the person leaves the sequence and no
step follows). `mark_as_finished` would record a finish seqguard did not see happen, and a
finished contact is skipped by later adds unless told otherwise
(`sequence_finished_in_other_campaigns`); `stop` only halts the contact, shown under a
status the reference does not name, with no documented way back. The emails already sent
stay in Apollo, and seqguard keeps the enrollment's history itself.

No pause or resume: the API documents no way to pause one contact and resume it later
(`stop` halts with no way back), so both are refused with that reason. No starting step:
add_contact_ids takes none, so an enrollment (a recovery too) starts at step 1 and its
outbox row says so.

Exactly once: Apollo keeps no trace of seqguard's change id, so `written` is empty and a
change in doubt is settled by reading the contact's statuses first (the poster's
`enrollments(None, contacts)`); only then is it posted again. Resending an add is
harmless besides: a contact already in the sequence stays as it is, and one that went
through it is not added again (each contact goes through each step once).

Reads: campaign statuses do not move a contact's `updated_at` (in the add example the
status was added a month after the contact's last update), and no search filters on a
sequence, so no read is incremental: a complete read pages through every contact (100 a
page: an idle cycle at 20,000 contacts costs 200 requests), and a read of given contacts
(or emails) costs one request each or the listing, whichever is fewer. Apollo shows at
most 50,000 records per search.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from tasks.core.config import SequencerConfig
from tasks.post.sequencers import apollo_wire as wire
from tasks.post.sequencers import base
from tasks.post.sequencers.apollo_client import PER_PAGE, ApolloClient, parallel

BATCH = 100                   # contacts per add/remove call (100 ids keep the URL ~5 KB)
# a reply, bounce or unsubscribe is listed under the email it answers, by that email's
# date: read back this far before `since` to catch late ones
ACTIVITY_LOOKBACK = timedelta(days=30)
# activity kind -> the outreach email search filter that finds it
ACTIVITY_FILTERS: dict[str, dict[str, Any]] = {
    "sent": {},
    "bounce": {"emailer_message_stats[]": ["bounced"]},
    "unsubscribe": {"emailer_message_stats[]": ["unsubscribed"]},
    "reply": {"emailer_message_reply_classes[]": list(wire.REPLY_CLASSES)},
}
NO_PAUSE = ("Apollo's API has no documented pause or resume of one contact in a sequence "
            "(remove_or_stop_contact_ids mode=stop halts it with no way back); unenroll "
            "instead")


class ApolloSequencer(base.HttpAdapter):
    """Apollo sequences of one team; thread-safe (the poster runs calls in parallel)."""

    crm = "apollo"
    # every read but the poster's read-back lists every contact's statuses, and a removed
    # status is gone from them: the read treats an open enrollment it no longer sees as ended
    lists_every_enrollment = True
    traceable_kinds: frozenset[str] = frozenset()

    def __init__(self, config: SequencerConfig, limiter: base.Limiter | None = None) -> None:
        self.client = ApolloClient(config, limiter)
        self.http = self.client.http
        self.default_sender = config.sender
        self._accounts: dict[str, str] | None = None   # sender email -> email account id
        self._accounts_lock = threading.Lock()

    @property
    def limiter(self) -> base.Limiter:
        return self.client.limiter


    def batch_limit(self, kind: str) -> int:
        return BATCH

    def prepare(self, kinds: set[str]) -> None:
        return None  # nothing to create

    def sequences(self) -> pa.Table:
        listed = self.client.pages("POST", "/emailer_campaigns/search", "emailer_campaigns", {})
        rows = [{"sequence_id": str(c["id"]), "name": str(c.get("name") or c["id"])}
                for c in listed]
        return pa.Table.from_pylist(rows, schema=base.SEQUENCE_SCHEMA)

    def people(self, emails: pa.Table) -> pa.Table:
        """Apollo's contact for each email, by the cheaper documented read: every page of
        the contact list when it has fewer pages than there are emails to find, else a
        keyword search per email (q_keywords matches email addresses, among others; only
        an exact match counts). With duplicates, the contact created first."""
        wanted = {str(e).strip().lower() for e in emails.column("email").to_pylist() if e}
        found: dict[str, dict[str, Any]] = {}
        if wanted:
            listing = self._listing_if_cheaper(len(wanted))
            if listing is not None:
                _keep(found, listing, wanted)
            else:
                for contacts in parallel(self._by_keyword, sorted(wanted)):
                    _keep(found, contacts, wanted)
        rows = [{"email": e, "contact_id": str(c["id"])} for e, c in sorted(found.items())]
        return pa.Table.from_pylist(rows, schema=base.PEOPLE_SCHEMA)

    def enrollments(self, since: datetime | None, contacts: pa.Table | None = None) -> pa.Table:
        """Every contact's sequence statuses (a complete read: `since` narrows nothing,
        see the module's docstring), unless only given contacts are asked for (`since`
        None with some `contacts`, the poster's read-back): those are read one by one, or
        by listing every contact when that takes fewer requests. No `since` and no
        contacts is a first read: everyone, as the other adapters read."""
        ids = set() if contacts is None else {
            str(c) for c in contacts.column("contact_id").to_pylist() if c}
        if since is None and ids:
            listing = self._listing_if_cheaper(len(ids))
            contacts_read = (parallel(self.client.contact, sorted(ids)) if listing is None
                             else (c for c in listing if str(c.get("id")) in ids))
            return wire.enrollment_table([row for contact in contacts_read if contact
                                          for row in wire.enrollment_rows(contact)])
        rows: list[dict[str, Any]] = []
        read: set[str] = set()
        for contact in self.client.pages("POST", "/contacts/search", "contacts", {}):
            read.add(str(contact.get("id")))
            rows += wire.enrollment_rows(contact)
        for contact in parallel(self.client.contact, sorted(ids - read)):
            rows += wire.enrollment_rows(contact) if contact else []
        return wire.enrollment_table(rows)

    def enroll(self, changes: pa.Table) -> pa.Table:
        rows = changes.to_pylist()
        try:
            accounts = self._email_accounts()
        except base.RateLimitExhausted as exc:
            return base.same_outcome(changes, "retry", str(exc))
        answers: dict[str, dict[str, Any]] = {}
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            sender = row.get("sender") or self.default_sender
            account = accounts.get((sender or "").strip().lower())
            if account is None:
                answers[row["change_id"]] = {"outcome": "rejected", "error": _no_account(sender)}
            else:
                groups.setdefault((row["sequence_id"], account), []).append(row)
        for (campaign, account), group in groups.items():
            answers.update(self._add(campaign, account, group))
        return base.results([{"change_id": r["change_id"], **answers[r["change_id"]]}
                             for r in rows])

    def unenroll(self, changes: pa.Table) -> pa.Table:
        rows = changes.to_pylist()
        answers: dict[str, dict[str, Any]] = {}
        everywhere = [r for r in rows if r["sequence_id"] == "*"]
        if everywhere:
            answers.update(self._remove_everywhere(everywhere))
        by_campaign: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            if row["sequence_id"] != "*":
                by_campaign.setdefault(row["sequence_id"], []).append(row)
        for campaign, group in by_campaign.items():
            answers.update(self._remove([campaign], group))
        return base.results([{"change_id": r["change_id"], **answers[r["change_id"]]}
                             for r in rows])

    def pause(self, changes: pa.Table) -> pa.Table:
        return base.same_outcome(changes, "rejected", NO_PAUSE)

    def resume(self, changes: pa.Table) -> pa.Table:
        return base.same_outcome(changes, "rejected", NO_PAUSE)

    def activity(self, since: datetime | None) -> pa.Table:
        """Sent emails since `since`, and replies (out of office left out), bounces and
        unsubscribes listed under emails sent up to ACTIVITY_LOOKBACK before it. The kind
        is the filter that found the email; occurred_at is when the email was sent (when
        the recipient answered is not documented). Rows keep their id on a re-read."""
        rows: list[dict[str, Any]] = []
        for kind, search in ACTIVITY_FILTERS.items():
            params = dict(search)
            start = since if kind == "sent" or since is None else since - ACTIVITY_LOOKBACK
            if start is not None:
                params["emailer_message_date_range_mode"] = "completed_at"
                params["emailer_message_date_range[min]"] = start.date().isoformat()
            found = self.client.pages("GET", "/emailer_messages/search", "emailer_messages",
                                      params)
            for message in found:
                sent = wire.parse_time(message.get("completed_at"))
                if kind == "sent" and since is not None and sent is not None and sent < since:
                    continue
                rows.append({
                    "activity_id": f"{message.get('id')}:{kind}",
                    "email": (message.get("to_email") or "").strip().lower() or None,
                    "contact_id": message.get("contact_id"), "kind": kind,
                    "sequence_id": message.get("emailer_campaign_id"),
                    "occurred_at": sent, "updated_at": sent})
        return pa.Table.from_pylist(rows, schema=base.ACTIVITY_SCHEMA)


    def _listing_if_cheaper(self, wanted: int) -> Iterator[dict[str, Any]] | None:
        """Every contact, page by page, when listing them takes fewer requests than
        `wanted` one-by-one reads (page 1 is read to know); else None."""
        first = self.client.read("POST", "/contacts/search", {"page": 1, "per_page": PER_PAGE})
        pages = int((first.get("pagination") or {}).get("total_pages") or 0)
        if wanted < pages:
            return None
        return self.client.pages("POST", "/contacts/search", "contacts", {}, first)

    def _by_keyword(self, email: str) -> list[dict[str, Any]]:
        return list(self.client.pages("POST", "/contacts/search", "contacts",
                                      {"q_keywords": email}))

    def _email_accounts(self) -> dict[str, str]:
        """Sender address (an account's email or alias) -> email account id, read once
        (the first caller reads; the poster's other workers wait for it)."""
        with self._accounts_lock:
            if self._accounts is None:
                known: dict[str, str] = {}
                for account in self.client.read("GET", "/email_accounts").get(
                        "email_accounts") or []:
                    for address in [account.get("email"), *(account.get("aliases") or [])]:
                        if address and account.get("id"):
                            known.setdefault(str(address).strip().lower(), str(account["id"]))
                self._accounts = known
            return self._accounts


    def _add(self, campaign: str, account: str, rows: list[dict[str, Any]]
             ) -> dict[str, dict[str, Any]]:
        """One add_contact_ids call for the rows of one sequence and sending account."""
        contact_ids = list(dict.fromkeys(r["contact_id"] for r in rows))
        params = {"emailer_campaign_id": campaign, "contact_ids[]": contact_ids,
                  "send_email_from_email_account_id": account,
                  # one open sequence per person, as seqguard's constraint says; a sequence
                  # the person finished is no reason to skip them (seqguard's rules decide)
                  "sequence_active_in_other_campaigns": "false",
                  "sequence_finished_in_other_campaigns": "true"}
        contacts, failed = self._write(f"/emailer_campaigns/{campaign}/add_contact_ids",
                                       params, rows)
        if contacts is None:
            return _split_or(failed, rows, lambda row: self._add(campaign, account, [row]))
        listed = {str(c.get("id")): c for c in contacts}
        outcomes = {}
        for row in rows:
            outcome = wire.add_outcome(listed.get(row["contact_id"]), campaign)
            # add_contact_ids takes no starting step
            note = base.restart_note("Apollo", row.get("start_step"))
            if outcome["outcome"] == "confirmed" and note:
                outcome["response"]["seqguard_note"] = note
            outcomes[row["change_id"]] = outcome
        return outcomes

    def _remove(self, campaigns: list[str], rows: list[dict[str, Any]]
                ) -> dict[str, dict[str, Any]]:
        """One remove call for the rows, from the given sequences."""
        params = {"emailer_campaign_ids[]": campaigns, "mode": "remove",
                  "contact_ids[]": list(dict.fromkeys(r["contact_id"] for r in rows))}
        contacts, failed = self._write("/emailer_campaigns/remove_or_stop_contact_ids",
                                       params, rows)
        if contacts is None:
            return _split_or(failed, rows, lambda row: self._remove(campaigns, [row]))
        listed = {str(c.get("id")): c for c in contacts}
        outcomes = {}
        for row in rows:
            contact = listed.get(row["contact_id"])
            still = set(campaigns) & wire.open_campaigns(contact) if contact else None
            outcomes[row["change_id"]] = (
                {"outcome": "confirmed", "response": {"mode": "remove"}} if still == set()
                else {"outcome": "sent", "response": {"mode": "remove"}})
        return outcomes

    def _remove_everywhere(self, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Unenroll from every open sequence: read the contacts' statuses (the cheaper
        way, as `enrollments` does), then remove them from all the sequences any of them
        is open in (each has left all of its own)."""
        try:
            read = self.enrollments(None, pa.table({"contact_id": [r["contact_id"]
                                                                   for r in rows]}))
        except base.RateLimitExhausted as exc:
            return {r["change_id"]: {"outcome": "retry", "error": str(exc)} for r in rows}
        open_in: dict[str, set[str]] = {}
        for status in read.to_pylist():
            if status["state"] in wire.OPEN:
                open_in.setdefault(status["contact_id"], set()).add(status["sequence_id"])
        answers = {r["change_id"]: {"outcome": "confirmed", "response": {"open": []}}
                   for r in rows if r["contact_id"] not in open_in}
        busy = [r for r in rows if r["contact_id"] in open_in]
        if busy:
            answers.update(self._remove(sorted(set().union(*open_in.values())), busy))
        return answers

    def _write(self, path: str, params: dict[str, Any], rows: list[dict[str, Any]]
               ) -> tuple[list[dict[str, Any]] | None, dict[str, dict[str, Any]]]:
        """One write: (the contacts it answers, {}) or, when the call failed as a whole,
        (None, each row's outcome by change id): an unknown outcome is retried (read back
        before any resend); a refusal is rejected, its HTTP status kept for the caller."""
        try:
            response = self.client.call("POST", path, idempotent=False, params=params)
        except (base.OutcomeUnknown, base.RateLimitExhausted) as exc:
            return None, {r["change_id"]: {"outcome": "retry", "error": str(exc)} for r in rows}
        if response.status_code != 200:
            line = wire.error_line(response)
            return None, {r["change_id"]: {"outcome": "rejected", "error": line,
                                           "http_status": response.status_code} for r in rows}
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # it ran, but what it did is unreadable: read the statuses before again
            return None, {r["change_id"]: {"outcome": "retry", "error": "Apollo answered "
                                           "HTTP 200 with no JSON object"} for r in rows}
        return [c for c in body.get("contacts") or [] if isinstance(c, dict)], {}


def _keep(found: dict[str, dict[str, Any]], contacts: Any, wanted: set[str]) -> None:
    """The first-created contact of each wanted email among `contacts`."""
    for contact in contacts:
        email = (contact.get("email") or "").strip().lower()
        if email in wanted and contact.get("id"):
            held = found.get(email)
            if held is None or (str(contact.get("created_at") or ""), str(contact["id"])) < (
                    str(held.get("created_at") or ""), str(held["id"])):
                found[email] = contact


def _split_or(failed: dict[str, dict[str, Any]], rows: list[dict[str, Any]],
              one: Callable[[dict[str, Any]], dict[str, dict[str, Any]]]
              ) -> dict[str, dict[str, Any]]:
    """A call that failed as a whole: when Apollo refused a batch as misconfigured (422:
    one id that is not valid refuses them all), each row is sent alone, so a bad id
    refuses only its own change; any other failure is every row's."""
    if len(rows) > 1 and all(f.get("http_status") == 422 for f in failed.values()):
        answers: dict[str, dict[str, Any]] = {}
        for row in rows:
            answers.update(one(row))
        return answers
    return {c: {k: v for k, v in f.items() if k != "http_status"} for c, f in failed.items()}


def _no_account(sender: str | None) -> str:
    if not sender:
        return ("no sender: Apollo sends from an email account; set the play's sender or "
                "sequencers.apollo.sender")
    return (f"no Apollo email account for sender {sender}: link the inbox in Apollo or set "
            "another sender")
