"""Contract: every Outreach call the adapter makes, request and answer, held against what
Outreach documents (outreach_reference.py, each shape cited there), and the sandbox's
refusals of what Outreach does not offer.

The adapter (tasks/sequencers/outreach.py) runs its real session over HTTPS to the
sandbox; a requests response hook (the library's documented hook, not a patch) records
each exchange. A call that sends an undocumented parameter or body, or gets an answer with
a field the reference lacks, fails here.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta

import pyarrow as pa
import pytest
from outreach_reference import (
    CREATE_BODY,
    MEDIA_TYPE,
    PLURAL,
    RATE_HEADERS,
    RATE_LIMIT_ERROR,
    error_problems,
    path_of,
    query_of,
    request_problems,
    resource_problems,
)
from salesforce_reference import Exchange, Recorder, mismatches

from sandbox.client import SandboxClient
from tasks.core.config import Config, Credential
from tasks.core.errors import ConfigError
from tasks.post.sequencers import outreach as outreach_module
from tasks.post.sequencers import sequencer_for
from tasks.post.sequencers.base import CHANGE_SCHEMA, own_people
from tasks.post.sequencers.outreach import OutreachSequencer
from tasks.sync.limiter import RateLimiter

NOW = datetime(2026, 3, 2, 9, 0)
OWNER = "avery.nguyen@seqguard-sandbox.test"  # a seeded owner: an Outreach mailbox
SEQUENCE = {"id": "101", "name": "Enterprise outbound",
            "steps": [{"after_minutes": 60}, {"after_minutes": 1440}, {"after_minutes": 2880}]}
EMAILS = ["ann@acme.test", "bo@acme.test", "cy@cyco.test", "di@dico.test"]


@pytest.fixture
def org(sandbox: SandboxClient) -> SandboxClient:
    """A 3-step sequence, three HubSpot contacts and a Salesforce Contact (opted out)."""
    sandbox.reset(now=NOW)
    sandbox.define_sequences([SEQUENCE, {"id": "102", "name": "Webinar", "steps": [
        {"after_minutes": 30}]}])
    sandbox.upsert_hubspot("contacts", [{"properties": {"email": e}} for e in EMAILS[:3]])
    sandbox.upsert_salesforce("Contact", [{"LastName": "Di", "Email": EMAILS[3],
                                           "HasOptedOutOfEmail": True}])
    return sandbox


def adapter_with(config: Config, limit: int | None = None) -> tuple[OutreachSequencer,
                                                                     Recorder]:
    adapter = OutreachSequencer(config.sequencer_config("outreach"), RateLimiter(limit=limit))
    return adapter, Recorder().attach(adapter.http.session())


def documented(exchange: Exchange) -> None:
    """The request is one Outreach documents and the answer has its documented shape."""
    assert request_problems(exchange.method, exchange.url, exchange.body,
                            exchange.headers) == [], exchange.url
    if exchange.status >= 400:
        assert error_problems(exchange.answer) == [], exchange.answer
        return
    parts = path_of(exchange.url).split("/")
    kind = PLURAL["sequenceStates" if "actions" in parts else parts[3]]
    data = exchange.answer["data"]
    for item in data if isinstance(data, list) else [data]:
        assert resource_problems(item, kind) == [], item
    assert set(exchange.answer) <= {"data", "links", "meta", "included"}
    assert set(exchange.answer.get("links") or {}) <= {"first", "prev", "next", "self"}


def people_of(adapter: OutreachSequencer, emails: list[str]) -> dict[str, str]:
    found = adapter.people(pa.table({"email": emails}))
    return dict(zip(found.column("email").to_pylist(), found.column("contact_id").to_pylist(),
                    strict=True))


def changes(kind: str, contacts: list[str], *, sequence_id: str = "101",
            sender: str | None = OWNER, start_step: int | None = None) -> pa.Table:
    n = len(contacts)
    return pa.table({
        "change_id": [f"{kind}-{i}" for i in range(n)], "kind": [kind] * n,
        "sequence_id": [sequence_id] * n, "email": [None] * n, "contact_id": contacts,
        "sender": [sender] * n, "reason": [None] * n, "start_step": [start_step] * n,
    }, schema=CHANGE_SCHEMA)


def test_sequencer_for_builds_the_outreach_adapter_with_people_of_its_own(
        org: SandboxClient, config: Config) -> None:
    adapter = sequencer_for(replace(config, sequencer="outreach"))
    assert isinstance(adapter, OutreachSequencer) and own_people(adapter) is adapter
    assert adapter.limiter.limit == 10_000 and adapter.limiter.period == 3600


def test_sequences_are_listed_with_the_documented_query(org: SandboxClient,
                                                        config: Config) -> None:
    adapter, recorder = adapter_with(config)
    assert adapter.sequences().to_pylist() == [
        {"sequence_id": "101", "name": "Enterprise outbound"},
        {"sequence_id": "102", "name": "Webinar"}]
    [call] = recorder.exchanges
    documented(call)
    assert dict(query_of(call.url)) == {"fields[sequence]": "name", "page[size]": "1000",
                                        "count": "false"}


def test_people_are_found_by_email_in_batches_following_links_next(
        org: SandboxClient, config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outreach_module, "PAGE_SIZE", 2)  # three prospects: two pages
    adapter, recorder = adapter_with(config)
    found = people_of(adapter, ["Ann@Acme.test", "bo@acme.test", "cy@cyco.test",
                                "nobody@acme.test", "odd,one@acme.test"])
    assert sorted(found) == ["ann@acme.test", "bo@acme.test", "cy@cyco.test"]
    assert all(v.isdigit() for v in found.values()) and len(set(found.values())) == 3
    first, second = recorder.exchanges
    for call in (first, second):
        documented(call)
    # the comma-carrying email cannot ride a filter list: left out, unknown
    assert dict(query_of(first.url))["filter[emails]"] == (
        "ann@acme.test,bo@acme.test,cy@cyco.test,nobody@acme.test")
    assert first.answer["links"]["next"] == second.url  # followed as given, never built


def test_enroll_creates_a_sequence_state_with_the_documented_body(org: SandboxClient,
                                                                  config: Config) -> None:
    adapter, recorder = adapter_with(config)
    ids = people_of(adapter, EMAILS[:2])
    recorder.exchanges.clear()
    answer = adapter.enroll(changes("enroll", [ids[EMAILS[0]], ids[EMAILS[1]]],
                                    start_step=2)).to_pylist()
    assert [a["outcome"] for a in answer] == ["confirmed", "confirmed"]
    assert "starts them at step 1, not step 2" in answer[0]["response"]
    mailbox_lookup, *creates = recorder.exchanges
    documented(mailbox_lookup)
    assert dict(query_of(mailbox_lookup.url))["filter[email]"] == OWNER
    for create, person in zip(creates, (EMAILS[0], EMAILS[1]), strict=True):
        documented(create)
        assert create.status == 201 and create.method == "POST"
        assert mismatches(create.body, CREATE_BODY) == []
        assert create.body["data"]["relationships"]["prospect"]["data"]["id"] == int(ids[person])
        assert str(create.answer["data"]["id"]) in {a["enrollment_id"] for a in answer}
        assert create.answer["data"]["attributes"]["state"] == "active"
    assert [(e["crm"], e["state"]) for e in org.enrollments()] == [("outreach", "active")] * 2


def test_refusals_are_documented_errors_and_per_row_outcomes(org: SandboxClient,
                                                             config: Config) -> None:
    adapter, recorder = adapter_with(config)
    ids = people_of(adapter, EMAILS)
    adapter.enroll(changes("enroll", [ids[EMAILS[0]]]))
    recorder.exchanges.clear()
    answer = adapter.enroll(changes("enroll", [
        ids[EMAILS[0]],          # already in a sequence
        ids[EMAILS[3]],          # opted out (the CRM's opt-out, carried)
        "99999",                 # no such prospect
    ])).to_pylist()
    assert [a["outcome"] for a in answer] == ["rejected"] * 3
    assert answer[0]["error"].startswith("Outreach refused to create the sequence state: "
                                         "HTTP 422 validationError: ")
    assert "opted out" in answer[1]["error"] and "HTTP 404 resourceNotFound" in answer[2]["error"]
    for call in recorder.exchanges:
        documented(call)
    unsendable = adapter.enroll(changes("enroll", [ids[EMAILS[1]]], sender="nobody@acme.test"))
    assert unsendable.column("outcome").to_pylist() == ["rejected"]
    assert "no Outreach mailbox for nobody@acme.test" in unsendable.column("error")[0].as_py()


def test_state_is_read_incrementally_with_the_step_from_the_sequence_steps(
        org: SandboxClient, config: Config) -> None:
    adapter, recorder = adapter_with(config)
    ids = people_of(adapter, EMAILS[:3])
    adapter.enroll(changes("enroll", [ids[e] for e in EMAILS[:3]]))
    org.set_clock(NOW + timedelta(hours=2))  # step 1 goes out an hour in
    read = OutreachSequencer(config.sequencer_config("outreach"), RateLimiter(limit=None))
    recorder = Recorder().attach(read.http.session())
    rows = read.enrollments(NOW + timedelta(minutes=30)).to_pylist()
    assert sorted((r["email"], r["state"], r["step"]) for r in rows) == [
        (e, "active", 1) for e in EMAILS[:3]]
    states, steps, prospects = recorder.exchanges
    for call in recorder.exchanges:
        documented(call)
    assert dict(query_of(states.url)) == {
        "fields[sequenceState]": "state,createdAt,updatedAt,prospect,sequence,sequenceStep",
        "filter[updatedAt]": "2026-03-02T09:30:00.000Z..inf", "sort": "updatedAt",
        "page[size]": "1000", "count": "false"}
    assert dict(query_of(steps.url))["filter[sequence][id]"] == "101"
    assert dict(query_of(prospects.url))["fields[prospect]"] == "emails"
    recorder.exchanges.clear()
    by_prospect = read.enrollments(None, pa.table({"contact_id": [ids[EMAILS[0]]]}))
    assert by_prospect.column("email").to_pylist() == [EMAILS[0]]
    [call] = recorder.exchanges  # steps and emails already known: one read
    assert dict(query_of(call.url))["filter[prospect][id]"] == ids[EMAILS[0]]


def test_finish_pause_and_resume_are_the_member_actions(org: SandboxClient,
                                                        config: Config) -> None:
    adapter, recorder = adapter_with(config)
    ids = people_of(adapter, EMAILS[:2])
    contacts = [ids[EMAILS[0]], ids[EMAILS[1]]]
    adapter.enroll(changes("enroll", contacts))
    recorder.exchanges.clear()
    paused = adapter.pause(changes("pause", contacts)).to_pylist()
    assert [p["outcome"] for p in paused] == ["confirmed", "confirmed"]
    read, *actions = recorder.exchanges
    assert dict(query_of(read.url))["filter[prospect][id]"] == ",".join(sorted(contacts))
    assert [path_of(a.url).rsplit("/", 1)[1] for a in actions] == ["pause", "pause"]
    for call in recorder.exchanges:
        documented(call)
    assert [p["outcome"] for p in adapter.resume(changes("resume", contacts[:1])).to_pylist()
            ] == ["confirmed"]
    finished = adapter.unenroll(changes("unenroll", contacts, sequence_id="*")).to_pylist()
    assert [f["outcome"] for f in finished] == ["confirmed", "confirmed"]
    assert [(e["state"], e["reason"]) for e in org.enrollments()] == [
        ("unenrolled", "finish (Outreach API)")] * 2
    again = adapter.unenroll(changes("unenroll", contacts)).to_pylist()
    assert [a["outcome"] for a in again] == ["confirmed"] * 2  # nothing open: already done
    assert "already done" in again[0]["response"]
    nothing = adapter.resume(changes("resume", contacts[:1])).to_pylist()
    assert nothing[0]["outcome"] == "rejected" and "nothing to resume" in nothing[0]["error"]
    foreign = adapter.unenroll(changes("unenroll", ["003000000000001AAA"])).to_pylist()
    assert foreign[0]["outcome"] == "rejected"  # a CRM id is never taken as done
    for call in recorder.exchanges:
        documented(call)


def test_an_action_the_state_does_not_allow_is_a_documented_422(org: SandboxClient,
                                                                 config: Config) -> None:
    adapter, _ = adapter_with(config)
    ids = people_of(adapter, EMAILS[:1])
    [state_id] = adapter.enroll(changes("enroll", [ids[EMAILS[0]]])).column(
        "enrollment_id").to_pylist()
    auth = {"Authorization": "Bearer sandbox-outreach", "Content-Type": MEDIA_TYPE}
    url = f"{org.url}/api/v2/sequenceStates/{state_id}/actions/resume"
    refused = org.http.post(url, headers=auth)
    assert refused.status_code == 422 and error_problems(refused.json()) == []
    assert refused.json()["errors"][0]["id"] == "validationError"
    assert org.http.post(url + "?actionParams[x]=1", headers=auth).status_code == 400


def test_activity_is_read_from_mailings_changed_since(org: SandboxClient,
                                                      config: Config) -> None:
    adapter, recorder = adapter_with(config)
    ids = people_of(adapter, EMAILS[:3])
    adapter.enroll(changes("enroll", [ids[e] for e in EMAILS[:3]]))
    org.set_clock(NOW + timedelta(hours=2))
    org.sequencer_events([
        {"sequencer": "outreach", "email": EMAILS[0], "kind": "reply",
         "at": "2026-03-02T10:30:00Z"},
        {"sequencer": "outreach", "email": EMAILS[1], "kind": "bounce"},
        {"sequencer": "outreach", "email": EMAILS[2], "kind": "unsubscribe"}])
    recorder.exchanges.clear()
    rows = adapter.activity(NOW).to_pylist()
    mailings = recorder.exchanges[0]
    documented(mailings)
    assert dict(query_of(mailings.url))["filter[updatedAt]"] == "2026-03-02T09:00:00.000Z..inf"
    kinds = sorted((r["email"], r["kind"]) for r in rows)
    assert kinds == sorted([(EMAILS[0], "sent"), (EMAILS[0], "reply"), (EMAILS[1], "sent"),
                            (EMAILS[1], "bounce"), (EMAILS[2], "sent"),
                            (EMAILS[2], "unsubscribe")])
    reply = next(r for r in rows if r["kind"] == "reply")
    assert (reply["sequence_id"], reply["occurred_at"]) == ("101", datetime(2026, 3, 2, 10, 30))
    assert reply["updated_at"] == NOW + timedelta(hours=2)
    assert adapter.activity(NOW + timedelta(hours=3)).num_rows == 0
    states = {r["email"]: r["state"] for r in adapter.enrollments(None).to_pylist()}
    # a reply finished, a bounce stopped (open: finish still ends it), an opt-out ended
    assert states == {EMAILS[0]: "finished", EMAILS[1]: "paused", EMAILS[2]: "finished"}


def test_past_the_rate_limit_the_adapter_waits_for_x_ratelimit_reset(org: SandboxClient,
                                                                      config: Config) -> None:
    adapter, recorder = adapter_with(config)
    org.faults(rate_limits={"outreach": {"limit": 2, "window_s": 2}})
    try:
        started = time.monotonic()
        for _ in range(3):
            adapter.sequences()
        waited = time.monotonic() - started
    finally:
        org.faults()
    limited = [e for e in recorder.exchanges if e.status == 429]
    assert limited and [e.status for e in recorder.exchanges].count(200) == 3
    assert mismatches(limited[0].answer, RATE_LIMIT_ERROR) == []
    assert limited[0].answer["errors"][0]["id"] == "rateLimitExceeded"
    response_headers = org.http.get(f"{org.url}/api/v2/sequences", headers={
        "Authorization": "Bearer sandbox-outreach", "Content-Type": MEDIA_TYPE}).headers
    assert not any(h in response_headers for h in RATE_HEADERS)  # no limit set: none
    assert 0.5 < waited < 10


def test_every_answer_under_a_limit_carries_the_documented_rate_headers(
        org: SandboxClient) -> None:
    org.faults(rate_limits={"outreach": {"limit": 10_000, "window_s": 3600}})
    try:
        answer = org.http.get(f"{org.url}/api/v2/sequences", headers={
            "Authorization": "Bearer sandbox-outreach", "Content-Type": MEDIA_TYPE})
    finally:
        org.faults()
    assert answer.headers["X-RateLimit-Limit"] == "10000"
    assert answer.headers["X-RateLimit-Remaining"] == "9999"
    assert 3590 < int(answer.headers["X-RateLimit-Reset"]) - time.time() <= 3601


def test_a_wrong_token_is_a_config_error_naming_the_setting(org: SandboxClient,
                                                            config: Config) -> None:
    wrong = replace(config.sequencer_config("outreach"), token=Credential(literal="expired"))
    with pytest.raises(ConfigError, match="refused the credentials"):
        OutreachSequencer(wrong, RateLimiter(limit=None)).sequences()


@pytest.mark.parametrize("path, headers, status, error_id", [
    ("/api/v2/prospects", {"Authorization": "Bearer sandbox-outreach"}, 415,
     "unsupportedMediaType"),
    ("/api/v2/prospects?include=account", None, 400, "badRequest"),
    ("/api/v2/prospects?filter[company]=Acme", None, 400, "badRequest"),
    ("/api/v2/prospects?page[offset]=10", None, 400, "badRequest"),
    ("/api/v2/prospects?page[size]=1001", None, 400, "badRequest"),
    ("/api/v2/prospects?fields[prospect]=seqguardState", None, 400, "badRequest"),
    ("/api/v2/prospects/99999", None, 404, "resourceNotFound"),
    ("/api/v2/enrollments", None, 404, "resourceNotFound"),
])
def test_the_sandbox_refuses_what_outreach_does_not_offer(
        org: SandboxClient, path: str, headers: dict | None, status: int,
        error_id: str) -> None:
    headers = headers or {"Authorization": "Bearer sandbox-outreach",
                          "Content-Type": MEDIA_TYPE}
    answer = org.http.get(org.url + path, headers=headers)
    assert answer.status_code == status
    assert answer.json()["errors"][0]["id"] == error_id


@pytest.mark.parametrize("body, pointer", [
    ({"data": {"type": "sequenceState", "attributes": {"state": "active"}}},
     "/data/attributes/state"),
    ({"data": {"type": "sequenceState", "relationships": {
        "prospect": {"data": {"type": "prospect", "id": 1}},
        "sequence": {"data": {"type": "sequence", "id": 101}}}}}, "/data/relationships/mailbox"),
    ({"data": {"type": "sequenceState", "relationships": {
        "account": {"data": {"type": "account", "id": 1}}}}}, "/data/relationships/account"),
])
def test_a_create_outreach_would_refuse_is_a_validation_error(
        org: SandboxClient, body: dict, pointer: str) -> None:
    answer = org.http.post(f"{org.url}/api/v2/sequenceStates", json=body, headers={
        "Authorization": "Bearer sandbox-outreach", "Content-Type": MEDIA_TYPE})
    assert answer.status_code == 422 and error_problems(answer.json()) == []
    assert answer.json()["errors"][0]["source"]["pointer"] == pointer


def test_only_the_outreach_bearer_token_is_accepted(org: SandboxClient) -> None:
    for auth in ("Bearer sandbox-token", "Bearer sandbox-salesloft", "sandbox-outreach"):
        answer = org.http.get(f"{org.url}/api/v2/sequences", headers={
            "Authorization": auth, "Content-Type": MEDIA_TYPE})
        assert answer.status_code == 401 and error_problems(answer.json()) == []
