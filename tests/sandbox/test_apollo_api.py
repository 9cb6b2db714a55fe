"""The sandbox's Apollo API over real HTTPS, for what seqguard does not call itself: the
other documented modes, Apollo's own skips, paging and the outreach email filters."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from sandbox.apollo_records import campaign_id
from sandbox.client import SandboxClient

NOW = "2026-03-02T09:00:00"
REP = "avery.nguyen@seqguard-sandbox.test"


class Apollo:
    """Plain HTTPS calls with the sandbox's master key."""

    def __init__(self, sandbox: SandboxClient) -> None:
        self.base = sandbox.url + "/api/v1"
        self.http = requests.Session()
        self.http.verify, self.http.trust_env = sandbox.cert, False
        self.http.headers["X-Api-Key"] = "sandbox-apollo"

    def post(self, path: str, **params: Any) -> requests.Response:
        return self.http.post(self.base + path, params=params)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(self.base + path, params=params)

    def contacts(self) -> dict[str, dict]:
        found = self.post("/contacts/search", per_page=100).json()["contacts"]
        return {c["email"]: c for c in found}

    def add(self, sequence: str, emails: list[str], **flags: str) -> requests.Response:
        contacts = self.contacts()
        account = next(a["id"] for a in self.get("/email_accounts").json()["email_accounts"]
                       if a["email"] == REP)
        campaign = campaign_id(sequence)
        return self.post(f"/emailer_campaigns/{campaign}/add_contact_ids",
                         emailer_campaign_id=campaign, send_email_from_email_account_id=account,
                         **{"contact_ids[]": [contacts[e]["id"] for e in emails]}, **flags)

    def statuses(self, email: str) -> list[tuple[str, str]]:
        return [(s["emailer_campaign_id"], s["status"])
                for s in self.contacts()[email]["contact_campaign_statuses"]]


@pytest.fixture
def apollo(sandbox: SandboxClient) -> Apollo:
    sandbox.reset(now=NOW)
    sandbox.define_sequences([
        {"id": "101", "name": "Outbound", "steps": [{"after_minutes": 60}]},
        {"id": "102", "name": "Webinar", "steps": [{"after_minutes": 30}]}])
    sandbox.upsert_hubspot("contacts", [{"properties": {"email": f"p{i}@example.com"}}
                                        for i in range(4)])
    return Apollo(sandbox)


def test_mark_as_finished_and_stop_keep_the_status_remove_drops_it(apollo: Apollo) -> None:
    apollo.add("101", ["p0@example.com", "p1@example.com", "p2@example.com"])
    ids = {e: c["id"] for e, c in apollo.contacts().items()}
    for email, mode in (("p0@example.com", "mark_as_finished"), ("p1@example.com", "stop"),
                        ("p2@example.com", "remove")):
        answer = apollo.post("/emailer_campaigns/remove_or_stop_contact_ids", mode=mode,
                             **{"emailer_campaign_ids[]": [campaign_id("101")],
                                "contact_ids[]": [ids[email]]})
        assert answer.status_code == 200
    assert apollo.statuses("p0@example.com") == [(campaign_id("101"), "finished")]
    assert apollo.statuses("p1@example.com") == [(campaign_id("101"), "paused")]
    assert apollo.statuses("p2@example.com") == []
    wrong = apollo.post("/emailer_campaigns/remove_or_stop_contact_ids", mode="pause",
                        **{"emailer_campaign_ids[]": [campaign_id("101")],
                           "contact_ids[]": [ids["p0@example.com"]]})
    assert wrong.status_code == 422


def test_apollo_skips_a_contact_that_went_through_the_sequence_or_finished_another(
        apollo: Apollo) -> None:
    apollo.add("101", ["p0@example.com"])
    ids = {e: c["id"] for e, c in apollo.contacts().items()}
    apollo.post("/emailer_campaigns/remove_or_stop_contact_ids", mode="mark_as_finished",
                **{"emailer_campaign_ids[]": [campaign_id("101")],
                   "contact_ids[]": [ids["p0@example.com"]]})
    apollo.add("101", ["p0@example.com"])  # went through it: not again
    assert apollo.statuses("p0@example.com") == [(campaign_id("101"), "finished")]
    apollo.add("102", ["p0@example.com"])  # finished another: skipped by default
    assert len(apollo.statuses("p0@example.com")) == 1
    apollo.add("102", ["p0@example.com"], sequence_finished_in_other_campaigns="true")
    assert (campaign_id("102"), "active") in apollo.statuses("p0@example.com")
    # re-adding an active contact leaves it as it is: still one enrollment
    apollo.add("102", ["p0@example.com"], sequence_finished_in_other_campaigns="true")
    assert len(apollo.statuses("p0@example.com")) == 2


def test_add_refuses_what_the_reference_does_not_allow(apollo: Apollo) -> None:
    campaign = campaign_id("101")
    path = f"/emailer_campaigns/{campaign}/add_contact_ids"
    assert apollo.post(path, emailer_campaign_id=campaign).status_code == 422  # no account
    assert apollo.post(path, emailer_campaign_id=campaign_id("102"),
                       send_email_from_email_account_id="6633baae0000000000000001",
                       **{"contact_ids[]": ["66e34b810000000000000001"]}).status_code == 422
    assert apollo.post(path, emailer_campaign_id=campaign,
                       send_email_from_email_account_id="6633baae0000000000000001",
                       ).status_code == 422  # neither contact_ids[] nor label_names[]


def test_searches_page_at_most_100_and_outreach_emails_filter_by_what_happened(
        sandbox: SandboxClient, apollo: Apollo) -> None:
    page = apollo.post("/contacts/search", per_page=500).json()["pagination"]
    assert page == {"page": 1, "per_page": 100, "total_entries": 4, "total_pages": 1}
    apollo.add("101", [f"p{i}@example.com" for i in range(4)])
    sandbox.set_clock("2026-03-02T10:30:00")
    sandbox.sequencer_events([
        {"sequencer": "apollo", "email": "p1@example.com", "kind": "bounce"},
        {"sequencer": "apollo", "email": "p2@example.com", "kind": "reply"}])

    def emails(**params: Any) -> list[str]:
        found = apollo.get("/emailer_messages/search", **params).json()["emailer_messages"]
        return sorted(m["to_email"] for m in found)

    assert len(emails()) == 4
    assert emails(**{"emailer_message_stats[]": ["bounced"]}) == ["p1@example.com"]
    assert emails(**{"emailer_message_reply_classes[]": ["none_of_the_above"]}) == [
        "p2@example.com"]
    assert emails(**{"emailer_message_reply_classes[]": ["out_of_office"]}) == []
    window = {"emailer_message_date_range_mode": "completed_at"}
    assert len(emails(**window, **{"emailer_message_date_range[min]": "2026-03-02"})) == 4
    assert emails(**window, **{"emailer_message_date_range[min]": "2026-03-03"}) == []
    assert emails(**{"not_emailer_campaign_ids[]": [campaign_id("101")]}) == []
    assert apollo.get("/emailer_messages/search",
                      **{"emailer_message_stats[]": ["read"]}).status_code == 422
