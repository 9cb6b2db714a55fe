"""Contract: every Apollo call the adapter makes, pinned to Apollo's documents.

For each call seqguard's Apollo sequencer makes (tasks/sequencers/apollo.py) the request it
sends and the answer it reads are compared with the example shapes Apollo publishes,
written out below from the pages named beside them: the API reference
(https://docs.apollo.io/reference/..., "DOCS" below) and, where it shows more of an
answer, the legacy reference it replaced (https://apolloio.github.io/apollo-api-docs/,
"LEGACY"). The calls run through the adapter's own code against the sandbox over HTTPS;
a requests response hook (the library's documented hook, not a patch) records what went
over the wire.

A request matches when it names only documented parameters, in the query as DOCS lists
them, with the values seqguard means. An answer matches when it has no field the example
lacks, each field has the example's type (null where the example shows null or a value),
ids are 24-character hex ids as in every example, and the fields seqguard reads are there.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

import pyarrow as pa
import pytest
import requests

from sandbox.client import SandboxClient
from tasks.core.config import Credential, sandbox_config
from tasks.core.errors import ConfigError
from tasks.post.sequencers.apollo import ApolloSequencer
from tasks.post.sequencers.base import CHANGE_SCHEMA
from tasks.sync.limiter import RateLimiter
from tests.contract import support
from tests.contract.support import Maybe, checker

NOW = datetime(2026, 3, 2, 9, 0)
REP = "avery.nguyen@seqguard-sandbox.test"  # a seeded owner: an Apollo email account
DOCS = "https://docs.apollo.io/reference/"
LEGACY = "https://apolloio.github.io/apollo-api-docs/?shell"
ID = "<object id>"            # "66e34b81740c50074e3d1bd4" in the examples
TIME = "<date-time>"          # "2020-07-27T01:23:36.898Z" / "2020-08-26T17:53:02.533+00:00"
OBJECT_ID = re.compile(r"[0-9a-f]{24}")
DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?(Z|[+-]\d\d:\d\d)")


# a page of any search (DOCS search-for-contacts, search-for-sequences,
# search-for-outreach-emails: "pagination": {page, per_page, total_entries, total_pages})
PAGINATION = {"page": 1, "per_page": 1, "total_entries": 1, "total_pages": 1}
BREADCRUMB = {"label": "<string>", "signal_field_name": "<string>", "value": "<string>",
              "display_name": "<string>"}

# a contact's entry per sequence (LEGACY #add-contacts-to-sequence example, the same in
# DOCS add-contacts-to-sequence)
CAMPAIGN_STATUS = {
    "id": ID, "emailer_campaign_id": ID, "send_email_from_user_id": Maybe(ID),
    "inactive_reason": Maybe("<string>"), "status": "<string>", "added_at": TIME,
    "added_by_user_id": Maybe(ID), "finished_at": Maybe(TIME), "paused_at": Maybe(TIME),
    "auto_unpause_at": Maybe(TIME), "send_email_from_email_address": Maybe("<string>"),
    "send_email_from_email_account_id": Maybe(ID), "manually_set_unpause": Maybe(True),
    "failure_reason": Maybe("<string>"), "current_step_id": Maybe(ID),
    "current_step_position": Maybe(1),
}
# the sequence statuses the examples name (a sequence's contact_statuses counts, LEGACY
# #add-contacts-to-sequence)
STATUSES = {"active", "paused", "finished", "bounced", "failed", "not_sent"}
# a contact (LEGACY #search-for-contacts and #add-contacts-to-sequence examples; DOCS
# search-for-contacts, view-a-contact)
CONTACT = {
    "id": ID, "first_name": Maybe("<string>"), "last_name": Maybe("<string>"),
    "name": Maybe("<string>"), "linkedin_url": Maybe("<string>"), "title": Maybe("<string>"),
    "contact_stage_id": Maybe(ID), "owner_id": Maybe(ID), "person_id": Maybe(ID),
    "organization_name": Maybe("<string>"), "organization_id": Maybe(ID),
    "email": Maybe("<string>"), "email_status": Maybe("<string>"),
    "account_id": Maybe(ID), "created_at": TIME, "updated_at": TIME,
    "emailer_campaign_ids": [ID], "contact_campaign_statuses": [CAMPAIGN_STATUS],
    "label_ids": [ID], "typed_custom_fields": {}, "source": Maybe("<string>"),
    "last_activity_date": Maybe(TIME),
}
# POST contacts/search (DOCS search-for-contacts: query q_keywords, contact_stage_ids[],
# sort_by_field, sort_ascending, per_page, page)
CONTACTS_QUERY = {"q_keywords", "contact_stage_ids[]", "sort_by_field", "sort_ascending",
                  "per_page", "page"}
CONTACTS_ANSWER = {"contacts": [CONTACT], "breadcrumbs": [BREADCRUMB],
                   "partial_results_only": False, "pagination": PAGINATION,
                   "num_fetch_result": Maybe("<string>")}
# GET contacts/{contact_id} (DOCS view-a-contact: no query)
VIEW_ANSWER = {"contact": CONTACT}
# an emailer campaign (DOCS search-for-sequences example)
CAMPAIGN = {
    "id": ID, "name": "<string>", "archived": False, "created_at": TIME,
    "emailer_schedule_id": Maybe(ID), "max_emails_per_day": Maybe(1), "user_id": Maybe(ID),
    "active": False, "label_ids": [ID], "num_steps": Maybe(1), "permissions": "<string>",
    "last_used_at": Maybe(TIME),
}
# POST emailer_campaigns/search (DOCS search-for-sequences: query q_name, page, per_page)
CAMPAIGNS_QUERY = {"q_name", "page", "per_page"}
CAMPAIGNS_ANSWER = {"pagination": PAGINATION, "breadcrumbs": [BREADCRUMB],
                    "emailer_campaigns": [CAMPAIGN], "num_fetch_result": Maybe("<string>")}
# GET email_accounts (DOCS get-a-list-of-email-accounts: "does not require any
# parameters"; LEGACY #get-a-list-of-email-accounts example)
EMAIL_ACCOUNT = {
    "aliases": ["<string>"], "id": ID, "user_id": ID, "email": "<string>", "type": "<string>",
    "active": True, "default": True, "seconds_delay_between_emails": 0,
    "provider_display_name": "<string>", "last_synced_at": Maybe(TIME),
    "email_daily_threshold": Maybe(1), "max_outbound_emails_per_hour": Maybe(1),
}
ACCOUNTS_ANSWER = {"email_accounts": [EMAIL_ACCOUNT]}
# POST emailer_campaigns/{sequence_id}/add_contact_ids (DOCS add-contacts-to-sequence:
# path sequence_id; query emailer_campaign_id (required, the same id), contact_ids[] or
# label_names[], send_email_from_email_account_id (required),
# send_email_from_email_address, sequence_no_email, sequence_unverified_email,
# sequence_job_change, sequence_active_in_other_campaigns,
# sequence_finished_in_other_campaigns, user_id)
ADD_QUERY = {"emailer_campaign_id", "contact_ids[]", "label_names[]",
             "send_email_from_email_account_id", "send_email_from_email_address",
             "sequence_no_email", "sequence_unverified_email", "sequence_job_change",
             "sequence_active_in_other_campaigns", "sequence_finished_in_other_campaigns",
             "user_id"}
ADD_ANSWER = {"contacts": [CONTACT], "emailer_campaign": CAMPAIGN, "emailer_steps": [{}],
              "emailer_touches": [{}], "team": {}}
# POST emailer_campaigns/remove_or_stop_contact_ids (DOCS update-contact-status-sequence:
# query emailer_campaign_ids[], contact_ids[], mode: mark_as_finished | remove | stop)
REMOVE_QUERY = {"emailer_campaign_ids[]", "contact_ids[]", "mode"}
REMOVE_ANSWER = {"contacts": [CONTACT], "emailer_campaigns": [{"id": ID}],
                 "num_contacts": 0, "contact_statuses": {}, "emailer_steps": [{}]}
# GET emailer_messages/search (DOCS search-for-outreach-emails: query
# emailer_message_stats[], emailer_message_reply_classes[], user_ids[],
# email_account_id_and_aliases, emailer_campaign_ids[], not_emailer_campaign_ids[],
# emailer_message_date_range_mode (due_at | completed_at),
# emailer_message_date_range[min], [max], not_sent_reason_cds[], q_keywords, page,
# per_page)
MESSAGES_QUERY = {"emailer_message_stats[]", "emailer_message_reply_classes[]", "user_ids[]",
                  "email_account_id_and_aliases", "emailer_campaign_ids[]",
                  "not_emailer_campaign_ids[]", "emailer_message_date_range_mode",
                  "emailer_message_date_range[min]", "emailer_message_date_range[max]",
                  "not_sent_reason_cds[]", "q_keywords", "page", "per_page"}
MESSAGE_STATS = {"delivered", "scheduled", "drafted", "not_opened", "opened", "clicked",
                 "unsubscribed", "demoed", "bounced", "spam_blocked", "failed_other"}
REPLY_CLASSES = {"willing_to_meet", "follow_up_question", "person_referral", "out_of_office",
                 "already_left_company_or_not_right_person", "not_interested", "unsubscribe",
                 "none_of_the_above"}
# an emailer message (DOCS check-email-stats: the emailer_message of its example)
MESSAGE = {"id": ID, "user_id": Maybe(ID), "emailer_campaign_id": Maybe(ID),
           "contact_id": Maybe(ID), "to_email": "<string>", "from_email": Maybe("<string>"),
           "to_name": Maybe("<string>"), "status": "<string>", "due_at": Maybe(TIME),
           "completed_at": Maybe(TIME), "time_zone": Maybe("<string>"),
           "provider_message_id": Maybe("<string>"), "subject": Maybe("<string>")}
MESSAGES_ANSWER = {"emailer_messages": [MESSAGE], "pagination": PAGINATION}
# the headers on every answer (DOCS rate-limits: x-rate-limit-{minute,hourly,daily},
# x-{minute,hourly,daily}-usage, x-{minute,hourly,daily}-requests-left)
RATE_HEADERS = {f"x-rate-limit-{w}" for w in ("minute", "hourly", "daily")} | {
    f"x-{w}-{h}" for w in ("minute", "hourly", "daily") for h in ("usage", "requests-left")}


assert_documented = checker({ID: (OBJECT_ID, "an Apollo id"),
                              TIME: (DATE_TIME, "an ISO date-time")})


class Exchange(support.Exchange):
    """An Apollo call: parameters in the query (lists kept), the raw body and headers."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response)
        self.query = self.params
        self.body = response.request.body
        self.headers = response.request.headers
        self.answer_headers = {k.lower() for k in response.headers}

    def one(self, name: str) -> str:
        [value] = self.query[name]
        return value


def recorded(adapter: ApolloSequencer) -> list[Exchange]:
    """Every call the adapter makes on this thread, in order (a requests response hook)."""
    calls: list[Exchange] = []
    adapter.client.http.session().hooks["response"].append(
        lambda response, *args, **kwargs: calls.append(Exchange(response)))
    return calls


def only(calls: list[Exchange], method: str, path: str) -> list[Exchange]:
    return [c for c in calls if c.method == method and c.path == "/api/v1" + path]


def assert_call(call: Exchange, documented_query: set[str]) -> None:
    """Only documented query parameters, nothing in a body, the key in its header."""
    extra = sorted(set(call.query) - documented_query)
    assert not extra, f"{call.path}: {extra} not among the documented parameters"
    assert call.body is None, f"{call.path}: a body the reference does not document"
    assert call.headers["X-Api-Key"] == "sandbox-apollo"
    assert call.status == 200
    assert call.answer_headers >= {"x-rate-limit-minute", "x-minute-requests-left"}


@pytest.fixture
def apollo(sandbox: SandboxClient) -> ApolloSequencer:
    """The adapter on a team with two sequences and three contacts (mirrored from HubSpot),
    the minute's rate limit on (so every answer carries its headers)."""
    support.small_account(sandbox, NOW)
    sandbox.faults(rate_limits={"apollo": {"limit": 200, "window_s": 60}})
    config = sandbox_config(sandbox.url, sandbox.cert).sequencer_config("apollo")
    return ApolloSequencer(config, RateLimiter(limit=None))


def contact_ids(apollo: ApolloSequencer) -> dict[str, str]:
    found = apollo.people(pa.table({"email": [f"p{i}@example.com" for i in (1, 2, 3)]}))
    return dict(zip(found.column("email").to_pylist(), found.column("contact_id").to_pylist(),
                    strict=True))


def campaigns(apollo: ApolloSequencer) -> dict[str, str]:
    listed = apollo.sequences()
    return dict(zip(listed.column("name").to_pylist(), listed.column("sequence_id").to_pylist(),
                    strict=True))


def changes(kind: str, contacts: list[str], sequence_id: str) -> pa.Table:
    return pa.Table.from_pylist([
        {"change_id": f"c{n}", "kind": kind, "sequence_id": sequence_id, "email": None,
         "contact_id": c, "sender": REP, "reason": "open deal: Acme renewal"}
        for n, c in enumerate(contacts)], schema=CHANGE_SCHEMA)


def test_sequences_are_searched_with_the_documented_query_page_by_page(
        sandbox: SandboxClient, apollo: ApolloSequencer) -> None:
    sandbox.define_sequences([{"id": str(200 + i), "name": f"Extra {i}", "steps": []}
                              for i in range(120)])
    calls = recorded(apollo)
    assert apollo.sequences().num_rows == 122
    pages = only(calls, "POST", "/emailer_campaigns/search")
    assert [(p.one("page"), p.one("per_page")) for p in pages] == [("1", "100"), ("2", "100")]
    for page in pages:
        assert_call(page, CAMPAIGNS_QUERY)
        assert_documented(page.answer, CAMPAIGNS_ANSWER, "sequences answer")
        for campaign in page.answer["emailer_campaigns"]:
            assert {"id", "name"} <= set(campaign)
    assert pages[1].answer["pagination"]["total_pages"] == 2


def test_people_are_searched_by_keyword_or_listed_with_the_documented_query(
        apollo: ApolloSequencer) -> None:
    calls = recorded(apollo)
    ids = contact_ids(apollo)  # 3 emails, 1 page: listing costs less than 3 searches
    [listing] = only(calls, "POST", "/contacts/search")
    assert_call(listing, CONTACTS_QUERY)
    assert {k: v for k, v in listing.query.items()} == {"page": ["1"], "per_page": ["100"]}
    assert_documented(listing.answer, CONTACTS_ANSWER, "contacts answer")
    assert sorted(ids) == ["p1@example.com", "p2@example.com", "p3@example.com"]

    calls.clear()
    one = apollo.people(pa.table({"email": ["p2@example.com"]}))
    assert one.column("contact_id").to_pylist() == [ids["p2@example.com"]]
    searches = only(calls, "POST", "/contacts/search")
    # one email among one page: the listing's first page already holds it
    assert len(searches) == 1


def test_enroll_adds_contacts_with_the_documented_query_and_reads_their_statuses(
        apollo: ApolloSequencer) -> None:
    ids, sequence = contact_ids(apollo), campaigns(apollo)["Enterprise outbound"]
    calls = recorded(apollo)
    answers = apollo.enroll(changes("enroll", [ids["p1@example.com"], ids["p2@example.com"]],
                                    sequence)).to_pylist()

    [accounts] = only(calls, "GET", "/email_accounts")
    assert_call(accounts, set())
    assert_documented(accounts.answer, ACCOUNTS_ANSWER, "email accounts answer")
    account = next(a["id"] for a in accounts.answer["email_accounts"] if a["email"] == REP)
    [add] = only(calls, "POST", f"/emailer_campaigns/{sequence}/add_contact_ids")
    assert_call(add, ADD_QUERY)
    assert add.query == {
        "emailer_campaign_id": [sequence],
        "contact_ids[]": [ids["p1@example.com"], ids["p2@example.com"]],
        "send_email_from_email_account_id": [account],
        "sequence_active_in_other_campaigns": ["false"],
        "sequence_finished_in_other_campaigns": ["true"]}
    assert_documented(add.answer, ADD_ANSWER, "add answer")
    for contact in add.answer["contacts"]:
        [status] = contact["contact_campaign_statuses"]
        assert status["status"] in STATUSES and status["emailer_campaign_id"] == sequence
    assert [(a["outcome"], a["enrollment_id"]) for a in answers] == [
        ("confirmed", c["contact_campaign_statuses"][0]["id"])
        for c in add.answer["contacts"]]


def test_a_skipped_contact_is_rejected_from_its_documented_fields(
        apollo: ApolloSequencer) -> None:
    ids, sequences = contact_ids(apollo), campaigns(apollo)
    apollo.enroll(changes("enroll", [ids["p1@example.com"]], sequences["Webinar follow-up"]))
    calls = recorded(apollo)
    [answer] = apollo.enroll(changes("enroll", [ids["p1@example.com"]],
                                     sequences["Enterprise outbound"])).to_pylist()
    [add] = only(calls, "POST",
                 f"/emailer_campaigns/{sequences['Enterprise outbound']}/add_contact_ids")
    assert add.status == 200
    [contact] = add.answer["contacts"]
    assert [s["emailer_campaign_id"] for s in contact["contact_campaign_statuses"]] == [
        sequences["Webinar follow-up"]]
    assert answer["outcome"] == "rejected"
    assert answer["error"].startswith("already in another sequence")


def test_unenroll_removes_with_the_documented_query(apollo: ApolloSequencer) -> None:
    ids, sequence = contact_ids(apollo), campaigns(apollo)["Enterprise outbound"]
    apollo.enroll(changes("enroll", [ids["p1@example.com"]], sequence))
    calls = recorded(apollo)
    [answer] = apollo.unenroll(changes("unenroll", [ids["p1@example.com"]],
                                       sequence)).to_pylist()
    [remove] = only(calls, "POST", "/emailer_campaigns/remove_or_stop_contact_ids")
    assert_call(remove, REMOVE_QUERY)
    assert remove.query == {"emailer_campaign_ids[]": [sequence],
                            "contact_ids[]": [ids["p1@example.com"]], "mode": ["remove"]}
    assert_documented(remove.answer, REMOVE_ANSWER, "remove answer")
    assert remove.answer["contacts"][0]["contact_campaign_statuses"] == []
    assert answer["outcome"] == "confirmed"


def test_unenroll_from_every_sequence_reads_the_contact_first(
        sandbox: SandboxClient, apollo: ApolloSequencer) -> None:
    ids, sequence = contact_ids(apollo), campaigns(apollo)["Webinar follow-up"]
    apollo.enroll(changes("enroll", [ids["p3@example.com"]], sequence))
    sandbox.upsert_hubspot("contacts", [{"properties": {"email": f"x{i}@example.com"}}
                                        for i in range(150)])
    calls = recorded(apollo)
    apollo.unenroll(changes("unenroll", [ids["p3@example.com"]], "*"))
    # two pages of contacts: one contact costs less viewed alone than listed
    [first_page] = only(calls, "POST", "/contacts/search")
    assert first_page.answer["pagination"]["total_pages"] == 2
    [view] = only(calls, "GET", f"/contacts/{ids['p3@example.com']}")
    assert_call(view, set())
    assert_documented(view.answer, VIEW_ANSWER, "view answer")
    [remove] = only(calls, "POST", "/emailer_campaigns/remove_or_stop_contact_ids")
    assert remove.query["emailer_campaign_ids[]"] == [sequence]


def test_state_is_read_from_the_contacts_statuses(apollo: ApolloSequencer) -> None:
    ids, sequence = contact_ids(apollo), campaigns(apollo)["Enterprise outbound"]
    [answer] = apollo.enroll(changes("enroll", [ids["p2@example.com"]], sequence)).to_pylist()
    calls = recorded(apollo)
    read = apollo.enrollments(NOW).to_pylist()
    [listing] = only(calls, "POST", "/contacts/search")
    assert_call(listing, CONTACTS_QUERY)
    assert_documented(listing.answer, CONTACTS_ANSWER, "contacts answer")
    assert read == [{"enrollment_id": answer["enrollment_id"], "sequence_id": sequence,
                     "email": "p2@example.com", "contact_id": ids["p2@example.com"],
                     "state": "active", "step": None, "enrolled_at": NOW,
                     "updated_at": NOW}]


def test_activity_searches_outreach_emails_with_the_documented_filters(
        sandbox: SandboxClient, apollo: ApolloSequencer) -> None:
    ids, sequence = contact_ids(apollo), campaigns(apollo)["Enterprise outbound"]
    apollo.enroll(changes("enroll", list(ids.values()), sequence))
    sandbox.set_clock("2026-03-02T10:30:00")
    sandbox.sequencer_events([{"sequencer": "apollo", "email": "p1@example.com",
                               "kind": "reply"}])
    calls = recorded(apollo)
    read = apollo.activity(NOW)
    searches = only(calls, "GET", "/emailer_messages/search")
    assert len(searches) == 4  # sent, bounced, unsubscribed, replied: one page each
    for search in searches:
        assert_call(search, MESSAGES_QUERY)
        assert set(search.query.get("emailer_message_stats[]", [])) <= MESSAGE_STATS
        assert set(search.query.get("emailer_message_reply_classes[]", [])) <= REPLY_CLASSES
        assert search.query["emailer_message_date_range_mode"] == ["completed_at"]
        assert_documented(search.answer, MESSAGES_ANSWER, "outreach emails answer")
    replies = [s for s in searches if "emailer_message_reply_classes[]" in s.query]
    assert "out_of_office" not in replies[0].query["emailer_message_reply_classes[]"]
    assert sorted(read.column("kind").to_pylist()) == ["reply", "sent", "sent", "sent"]


def test_refusals_come_in_the_documented_statuses(sandbox: SandboxClient,
                                                  apollo: ApolloSequencer) -> None:
    config = sandbox_config(sandbox.url, sandbox.cert).sequencer_config("apollo")
    standard = ApolloSequencer(replace(config, token=Credential(
        literal="sandbox-apollo-standard")), RateLimiter(limit=None))
    calls = recorded(standard)
    with pytest.raises(ConfigError, match="master key"):
        standard.sequences()
    assert [c.status for c in calls] == [403]  # DOCS errors-1: API inaccessible
    # the contact search is open to any key
    assert standard.people(pa.table({"email": ["p1@example.com"]})).num_rows == 1

    http = requests.Session()
    http.verify, http.trust_env = sandbox.cert, False
    base = sandbox.url + "/api/v1"
    wrong = http.post(base + "/contacts/search", headers={"X-Api-Key": "nope"})
    assert wrong.status_code == 401  # DOCS errors-1: invalid access credentials
    undocumented = http.post(base + "/contacts/search", params={"email": "p1@example.com"},
                             headers={"X-Api-Key": "sandbox-apollo"})
    assert undocumented.status_code == 422  # a parameter the reference does not list
    sandbox.faults(rate_limits={"apollo": {"limit": 1, "window_s": 60}})
    http.post(base + "/contacts/search", headers={"X-Api-Key": "sandbox-apollo"})
    limited = http.post(base + "/contacts/search", headers={"X-Api-Key": "sandbox-apollo"})
    assert limited.status_code == 429  # DOCS errors-1: too many requests
    assert {k.lower() for k in limited.headers if k.lower().startswith("x-")} <= RATE_HEADERS
    assert limited.headers["x-minute-requests-left"] == "0"
    assert "retry-after" not in {k.lower() for k in limited.headers}  # none documented
