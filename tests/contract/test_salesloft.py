"""Contract: every Salesloft call the adapter makes, pinned to what Salesloft documents.

Each call runs through the adapter's own code (tasks/sequencers/salesloft.py) against the
sandbox over HTTPS; a requests response hook records what went over the wire. Requests
may name only the query parameters the path documents (salesloft_reference.QUERY);
answers may hold only documented fields of the documented types (salesloft_reference,
each shape cited there), and the refusals are the documented envelopes.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest
import requests
import salesloft_reference as ref
from salesforce_reference import Exchange, Recorder, mismatches

from sandbox.client import SandboxClient
from tasks.core.config import Config, sandbox_config
from tasks.core.errors import ConfigError
from tasks.post.sequencers.base import CHANGE_SCHEMA
from tasks.post.sequencers.salesloft import SalesloftSequencer
from tasks.post.sequencers.salesloft_client import wait_for_next_minute
from tasks.sync.limiter import RateLimiter

NOW = datetime(2026, 3, 2, 9, 0)
CADENCE_ID = "301"
SEQUENCE = {"id": CADENCE_ID, "name": "Outbound VP",
            "steps": [{"after_minutes": 0}, {"after_minutes": 1440}, {"after_minutes": 60}]}
RECORDS = {"/v2/cadence_memberships": ref.MEMBERSHIP, "/v2/cadences": ref.CADENCE,
           "/v2/steps": ref.STEP, "/v2/users": ref.USER, "/v2/people": ref.PERSON,
           "/v2/activities/emails": ref.EMAIL}


@pytest.fixture
def team(sandbox: SandboxClient) -> SandboxClient:
    """A team with ref.one cadence of three email steps and five people."""
    sandbox.reset(now=NOW)
    sandbox.define_sequences([SEQUENCE])
    sandbox.upsert_hubspot("contacts", [{"properties": {"email": f"v{i}@vp.test"}}
                                        for i in range(5)])
    return sandbox


def adapter_for(sandbox: SandboxClient, sender: str | None = None) -> SalesloftSequencer:
    config = sandbox_config(sandbox.url, sandbox.cert)
    from dataclasses import replace

    return SalesloftSequencer(replace(config.sequencer_config("salesloft"), sender=sender),
                              RateLimiter(limit=None))


def recorded(adapter: SalesloftSequencer) -> Recorder:
    return Recorder().attach(adapter.client.session())


def endpoint(exchange: Exchange) -> tuple[str, str]:
    """(method, path with ids as `{id}`)."""
    path = re.sub(r"/\d+$", "/{id}", urlsplit(exchange.url).path)
    return exchange.method, path


def query(exchange: Exchange) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(exchange.url).query).items()}


def assert_documented_call(exchange: Exchange) -> None:
    """The request names documented parameters only; the answer has documented fields."""
    method, path = endpoint(exchange)
    base = path.removesuffix("/{id}")
    sent = set(query(exchange))
    if path.endswith("/{id}"):
        assert not sent, f"{method} {path}: no query is documented, sent {sorted(sent)}"
    else:
        extra = sent - ref.QUERY[(method, path)]
        assert not extra, f"{method} {path}: {sorted(extra)} are not documented parameters"
        missing = ref.REQUIRED_QUERY.get((method, path), set()) - sent
        assert not missing, f"{method} {path}: required {sorted(missing)} missing"
    assert exchange.body is None, f"{method} {path}: the API documents no request body"
    if exchange.status in (200, 201):
        answer = exchange.answer
        if method == "GET" and path == base:
            # metadata.filtering echoes the filters applied: documented parameter names
            echoed = answer["metadata"]["filtering"]
            assert {re.sub(r"\[.*", "", k) for k in echoed} <= \
                {re.sub(r"\[.*", "", k) for k in ref.QUERY[(method, path)]}
            answer = {**answer, "metadata": {**answer["metadata"], "filtering": {}}}
        shape = ref.listing(RECORDS[base]) if method == "GET" and path == base \
            else ref.one(RECORDS[base])
        assert mismatches(answer, shape) == []
        for record in exchange.answer["data"] if path == base and method == "GET" \
                else [exchange.answer["data"]]:
            assert_times(record)
        if method == "GET" and path == base:
            paging = exchange.answer["metadata"]["paging"]
            assert all(k in paging for k in ref.PAGING_REQUIRED)


def assert_times(record: Any) -> None:
    """Every date-time is ISO 8601 with microseconds and an offset, as the examples are."""
    if isinstance(record, dict):
        for key, value in record.items():
            if key.endswith("_at") and value is not None:
                assert ref.TIME_FORMAT.match(value), f"{key}: {value!r}"
            assert_times(value)


def changes(kind: str, rows: list[tuple[str, str]], *, sequence_id: str = CADENCE_ID,
            sender: str | None = None, start_step: int | None = None,
            prefix: str = "c") -> pa.Table:
    return pa.Table.from_pylist([
        {"change_id": f"{prefix}{i}", "kind": kind, "sequence_id": sequence_id, "email": e,
         "contact_id": c, "sender": sender, "reason": "open deal", "start_step": start_step}
        for i, (c, e) in enumerate(rows)], schema=CHANGE_SCHEMA)


def people_of(adapter: SalesloftSequencer, n: int = 5) -> list[tuple[str, str]]:
    found = adapter.people(pa.table({"email": [f"v{i}@vp.test" for i in range(n)]}))
    return list(zip(found.column("contact_id").to_pylist(), found.column("email").to_pylist(),
                    strict=True))


def test_people_are_looked_up_by_email_in_the_documented_filter(team: SandboxClient) -> None:
    adapter = adapter_for(team)
    calls = recorded(adapter)
    found = adapter.people(pa.table({"email": ["V1@vp.test ", "v3@vp.test", "nobody@vp.test",
                                               "odd,ref.one@vp.test", None]}))
    assert found.to_pylist() == [{"email": "v1@vp.test", "contact_id": "2"},
                                 {"email": "v3@vp.test", "contact_id": "4"}]
    [call] = calls.exchanges
    assert endpoint(call) == ("GET", "/v2/people")
    # explode: false - ref.one parameter, the values joined by commas
    assert query(call) == {"email_addresses": "nobody@vp.test,v1@vp.test,v3@vp.test",
                           "per_page": "100", "page": "1"}
    assert_documented_call(call)


def test_enroll_creates_a_membership_with_documented_query_parameters(
        team: SandboxClient) -> None:
    adapter = adapter_for(team)
    people = people_of(adapter)
    calls = recorded(adapter)
    rep = "avery.nguyen@seqguard-sandbox.test"
    first = adapter.enroll(changes("enroll", people[:1], sender=rep)).to_pylist()
    second = adapter.enroll(changes("enroll", people[1:2], start_step=3,
                                    prefix="r")).to_pylist()

    [users] = [c for c in calls.exchanges if endpoint(c) == ("GET", "/v2/users")]
    assert query(users) == {}  # no page: every user in ref.one answer
    assert_documented_call(users)
    creates = [c for c in calls.exchanges if endpoint(c) == ("POST", "/v2/cadence_memberships")]
    steps = [c for c in calls.exchanges if endpoint(c) == ("GET", "/v2/steps")]
    assert len(creates) == 2 and len(steps) == 1
    user_id = next(u["id"] for u in users.answer["data"] if u["email"] == rep)
    assert query(creates[0]) == {"person_id": people[0][0], "cadence_id": CADENCE_ID,
                                 "user_id": str(user_id)}
    # step 3 of the cadence, by day then step_number
    ordered = sorted(steps[0].answer["data"], key=lambda s: (s["day"], s["step_number"]))
    assert query(creates[1]) == {"person_id": people[1][0], "cadence_id": CADENCE_ID,
                                 "step_id": str(ordered[2]["id"])}
    assert query(steps[0]) == {"cadence_id": CADENCE_ID, "per_page": "100", "page": "1"}
    for call in [*creates, *steps]:
        assert_documented_call(call)
        assert call.status == 200
    membership = creates[0].answer["data"]
    assert membership["current_state"] in ref.CURRENT_STATES
    assert (first[0]["outcome"], first[0]["enrollment_id"]) == ("sent", str(membership["id"]))
    assert second[0]["outcome"] == "sent"


def test_refusals_are_the_documented_envelopes_and_per_row_outcomes(
        team: SandboxClient) -> None:
    adapter = adapter_for(team)
    people = people_of(adapter)
    team.sequencer_events([{"sequencer": "salesloft", "email": "v4@vp.test",
                            "kind": "unsubscribe"}])
    adapter.enroll(changes("enroll", people[:1]))
    calls = recorded(adapter)
    answers = adapter.enroll(changes("enroll", [people[0], people[4], ("999", "x@vp.test")],
                                     prefix="again")).to_pylist()
    already, do_not_contact, unknown = (c for c in calls.exchanges
                                        if endpoint(c) == ("POST", "/v2/cadence_memberships"))
    for call in (already, do_not_contact):
        assert call.status == 422
        assert ref.unprocessable_problems(call.answer) == []
        assert all(isinstance(m, list) and m for m in call.answer["errors"].values())
    assert unknown.status == 404 and mismatches(unknown.answer, ref.NOT_FOUND) == []
    assert [a["outcome"] for a in answers] == ["rejected"] * 3
    assert answers[0]["error"] == ("Salesloft refused to add the person: HTTP 422: person_id "
                                   f"{already.answer['errors']['person_id'][0]}")
    assert "do not contact" in answers[1]["error"]
    assert answers[2]["error"].endswith(f"HTTP 404: {unknown.answer['error']}")
    # nothing is asked for what cannot be named: no user, no such step, no cadence
    calls.exchanges.clear()
    nobody = adapter.enroll(changes("enroll", people[1:2], sender="ghost@vp.test"))
    no_step = adapter.enroll(changes("enroll", people[1:2], start_step=9))
    no_cadence = adapter.enroll(changes("enroll", people[1:2], sequence_id="Nope"))
    assert [r["error"] for r in (nobody.to_pylist() + no_step.to_pylist()
                                 + no_cadence.to_pylist())] == [
        "no Salesloft user with email ghost@vp.test; set the play's sender (or "
        "sequencers.salesloft.sender) to a user of the team",
        f"Salesloft cadence {CADENCE_ID} has no step 9 (it has 3)",
        "no Salesloft cadence 'Nope'; name it by id or name"]
    assert not [c for c in calls.exchanges if c.method == "POST"]


def test_unenroll_deletes_the_membership_on_the_cadence(team: SandboxClient) -> None:
    adapter = adapter_for(team)
    people = people_of(adapter)
    adapter.enroll(changes("enroll", people[:2]))
    calls = recorded(adapter)
    answers = adapter.unenroll(changes("unenroll", people[:3], prefix="u")).to_pylist()
    lookups = [c for c in calls.exchanges if endpoint(c) == ("GET", "/v2/cadence_memberships")]
    deletes = [c for c in calls.exchanges
               if endpoint(c) == ("DELETE", "/v2/cadence_memberships/{id}")]
    assert [query(c) for c in lookups] == [
        {"person_id": p, "currently_on_cadence": "true", "cadence_id": CADENCE_ID,
         "per_page": "100", "page": "1"} for p, _ in people[:3]]
    for call in [*lookups, *deletes]:
        assert_documented_call(call)
    assert [(c.status, c.answer) for c in deletes] == [(204, ""), (204, "")]
    assert [a["outcome"] for a in answers] == ["sent", "sent", "confirmed"]
    # the membership stays, off the cadence
    read = {r["contact_id"]: r for r in adapter.enrollments(None).to_pylist()}
    assert {read[p]["state"] for p, _ in people[:2]} == {"unenrolled"}
    # every cadence ('*'): each membership on a cadence
    adapter.enroll(changes("enroll", people[3:4], prefix="e"))
    calls.exchanges.clear()
    [every] = adapter.unenroll(changes("unenroll", people[3:4], sequence_id="*",
                                       prefix="all")).to_pylist()
    assert query(calls.exchanges[0]) == {"person_id": people[3][0],
                                         "currently_on_cadence": "true", "per_page": "100",
                                         "page": "1"}
    assert every["outcome"] == "sent"


def test_pause_and_resume_are_refused_without_a_call(team: SandboxClient) -> None:
    adapter = adapter_for(team)
    calls = recorded(adapter)
    for kind in ("pause", "resume"):
        [answer] = getattr(adapter, kind)(changes(kind, [("1", "v0@vp.test")])).to_pylist()
        assert answer["outcome"] == "rejected" and "no pause or resume" in answer["error"]
    assert calls.exchanges == []


def test_state_is_polled_by_updated_at_and_read_per_person(team: SandboxClient) -> None:
    """More memberships than a page, in two updates: the poller moves `updated_at[gte]`
    to the last record's updated_at, and pages on only while a page shares ref.one."""
    adapter = adapter_for(team)
    team.upsert_hubspot("contacts", [{"properties": {"email": f"bulk{i}@vp.test"}}
                                     for i in range(130)])
    found = adapter.people(pa.table({"email": [f"bulk{i}@vp.test" for i in range(130)]}))
    bulk = list(zip(found.column("contact_id").to_pylist(), found.column("email").to_pylist(),
                    strict=True))
    adapter.enroll(changes("enroll", bulk[:110], prefix="a"))
    team.set_clock(NOW + timedelta(minutes=1))
    adapter.enroll(changes("enroll", bulk[110:], prefix="b"))
    calls = recorded(adapter)
    read = adapter.enrollments(NOW - timedelta(minutes=5))
    assert read.num_rows == 130 and len(set(read.column("enrollment_id").to_pylist())) == 130
    polls = [c for c in calls.exchanges if endpoint(c) == ("GET", "/v2/cadence_memberships")]
    sent = [query(c) for c in polls]
    assert all(q["sort_by"] == "updated_at" and q["sort_direction"] == "ASC" for q in sent)
    assert sent[0]["updated_at[gte]"] == "2026-03-02T08:55:00.000000Z"
    # the first page's last record's updated_at, handed back as given
    assert sent[1]["updated_at[gte]"] == polls[0].answer["data"][-1]["updated_at"]
    assert max(int(q["page"]) for q in sent) <= 2
    for call in calls.exchanges:
        assert_documented_call(call)
    people_reads = [c for c in calls.exchanges if endpoint(c) == ("GET", "/v2/people")]
    assert all(set(query(c)) == {"ids", "per_page", "page"} for c in people_reads)
    assert len(people_reads) == 2  # 130 people, 100 a call
    # per person: every membership of theirs
    calls.exchanges.clear()
    adapter.enrollments(None, pa.table({"contact_id": [bulk[0][0]]}))
    assert query(calls.exchanges[0]) == {"person_id": bulk[0][0], "per_page": "100",
                                         "page": "1"}


def test_state_and_step_come_from_documented_fields(team: SandboxClient) -> None:
    adapter = adapter_for(team)
    people = people_of(adapter)
    adapter.enroll(changes("enroll", people[:3]))
    team.set_clock(NOW + timedelta(minutes=5))   # step 1 (after 0 minutes) went out
    adapter.unenroll(changes("unenroll", people[1:2], prefix="u"))
    team.sequencer_events([{"sequencer": "salesloft", "email": people[2][1], "kind": "reply"}])
    calls = recorded(adapter)
    read = {r["contact_id"]: r for r in adapter.enrollments(None).to_pylist()}
    memberships = {m["person"]["id"]: m for c in calls.exchanges
                   if endpoint(c) == ("GET", "/v2/cadence_memberships")
                   for m in c.answer["data"]}
    for person, _ in people[:3]:
        membership = memberships[int(person)]
        assert membership["current_state"] in ref.CURRENT_STATES
        assert read[person]["state"] == (
            "active" if membership["currently_on_cadence"] else
            "unenrolled" if membership["current_state"] in ("removed", "removed_no_action")
            else "finished")
    assert [read[p]["state"] for p, _ in people[:3]] == ["active", "unenrolled", "unenrolled"]
    # the step: the person's last_completed_step, positioned among the cadence's steps
    assert [read[p]["step"] for p, _ in people[:3]] == [1, 1, 1]
    [person_read] = [c for c in calls.exchanges if endpoint(c) == ("GET", "/v2/people")]
    for person in person_read.answer["data"]:
        assert person["last_completed_step_cadence"]["id"] == int(CADENCE_ID)
    for call in calls.exchanges:
        assert_documented_call(call)


def test_activity_reads_emails_and_do_not_contact_people(team: SandboxClient) -> None:
    adapter = adapter_for(team)
    people = people_of(adapter)
    adapter.enroll(changes("enroll", people[:3]))
    team.set_clock(NOW + timedelta(minutes=5))
    team.sequencer_events([
        {"sequencer": "salesloft", "email": people[0][1], "kind": "reply"},
        {"sequencer": "salesloft", "email": people[1][1], "kind": "bounce"},
        {"sequencer": "salesloft", "email": people[2][1], "kind": "unsubscribe"}])
    calls = recorded(adapter)
    rows = adapter.activity(NOW).to_pylist()
    emails = [c for c in calls.exchanges if endpoint(c) == ("GET", "/v2/activities/emails")]
    dnc = [c for c in calls.exchanges if endpoint(c) == ("GET", "/v2/people")]
    assert query(emails[0]) == {"sort_by": "updated_at", "sort_direction": "ASC",
                                "per_page": "100", "page": "1",
                                "updated_at[gte]": "2026-03-02T09:00:00.000000Z"}
    assert query(dnc[0])["do_not_contact"] == "true"
    for call in calls.exchanges:
        assert_documented_call(call)
    assert {e["status"] for c in emails for e in c.answer["data"]} <= ref.EMAIL_STATUSES
    kinds = sorted((r["kind"], r["email"]) for r in rows)
    assert kinds == sorted([("sent", people[0][1]), ("sent", people[1][1]),
                            ("sent", people[2][1]), ("reply", people[0][1]),
                            ("bounce", people[1][1]), ("unsubscribe", people[2][1])])
    assert {r["sequence_id"] for r in rows if r["kind"] != "unsubscribe"} == {CADENCE_ID}
    # read again: the same ids
    assert sorted(r["activity_id"] for r in adapter.activity(NOW).to_pylist()) == \
        sorted(r["activity_id"] for r in rows)


def test_cadences_are_listed_page_by_page(team: SandboxClient) -> None:
    team.define_sequences([{"id": str(400 + i), "name": f"Extra {i}", "steps": []}
                           for i in range(120)])
    adapter = adapter_for(team)
    calls = recorded(adapter)
    assert adapter.sequences().num_rows == 121
    pages = [query(c) for c in calls.exchanges]
    assert pages == [{"per_page": "100", "page": "1"}, {"per_page": "100", "page": "2"}]
    for call in calls.exchanges:
        assert_documented_call(call)
    assert calls.exchanges[0].answer["metadata"]["paging"]["next_page"] == 2


@pytest.fixture
def raw(team: SandboxClient) -> requests.Session:
    session = requests.Session()
    session.verify = team.cert
    session.trust_env = False
    session.headers["Authorization"] = "Bearer sandbox-salesloft"
    return session


def test_every_answer_carries_the_rate_headers_and_past_the_limit_429(
        team: SandboxClient, raw: requests.Session) -> None:
    team.faults(rate_limits={"salesloft": {"limit": 2, "window_s": 60}})
    try:
        answers = [raw.get(f"{team.url}/v2/cadences") for _ in range(3)]
    finally:
        team.faults()
    assert [a.status_code for a in answers] == [200, 200, 429]
    for answer in answers:
        assert all(h in answer.headers for h in ref.RATE_HEADERS)
        assert answer.headers["x-ratelimit-endpoint-cost"] == "1"
    assert [a.headers["x-ratelimit-remaining-minute"] for a in answers] == ["1", "0", "0"]
    assert "Retry-After" not in answers[2].headers  # not documented
    # seqguard waits for the next minute by the server's clock
    at = datetime(2026, 3, 2, 9, 0, 42)
    answers[2].headers["Date"] = format_datetime(at.replace(tzinfo=None), usegmt=False)
    assert wait_for_next_minute(answers[2]) == 18.5


def test_undocumented_filters_are_ignored_and_unimitated_ones_refused(
        team: SandboxClient, raw: requests.Session) -> None:
    listed = raw.get(f"{team.url}/v2/cadences", params={"colour": "red"})
    assert listed.status_code == 200 and listed.json()["metadata"]["filtering"] == {}
    refused = raw.get(f"{team.url}/v2/people", params={"crm_id": "003"})
    assert refused.status_code == 422 and ref.unprocessable_problems(refused.json()) == []
    missing = raw.get(f"{team.url}/v2/cadence_memberships/999999")
    assert missing.status_code == 404 and mismatches(missing.json(), ref.NOT_FOUND) == []
    suffixed = raw.get(f"{team.url}/v2/cadences.json")  # the definition's spelling
    assert suffixed.status_code == 200


def test_a_refused_credential_is_a_configuration_error(team: SandboxClient,
                                                       config: Config) -> None:
    from dataclasses import replace

    from tasks.core.config import Credential

    wrong = replace(config.sequencer_config("salesloft"), token=Credential(literal="nope"))
    adapter = SalesloftSequencer(wrong, RateLimiter(limit=None))
    with pytest.raises(ConfigError, match="refused the credentials"):
        adapter.sequences()
