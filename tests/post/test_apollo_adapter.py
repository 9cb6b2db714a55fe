"""The Apollo adapter against the sandbox over HTTPS: people by email, enroll, unenroll,
refusals as per-row outcomes, state and activity read back, and the rate budget."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest
from post_support import NOW, add_changes, hubspot_people, statuses
from post_support import changes as support_changes

from sandbox.client import SandboxClient
from sandbox.state import parse_time
from tasks.core.config import Config, Credential
from tasks.core.errors import ConfigError
from tasks.post.poster import post_pending
from tasks.post.sequencers.apollo import ApolloSequencer
from tasks.post.sequencers.base import (
    ACTIVITY_SCHEMA,
    ENROLLMENT_SCHEMA,
    PEOPLE_SCHEMA,
    RESULT_SCHEMA,
    RateLimitExhausted,
)
from tasks.sync.limiter import RateLimiter

ROOT = Path(__file__).resolve().parents[2]
REP = "avery.nguyen@seqguard-sandbox.test"   # a sandbox owner: an Apollo email account


def apollo(config: Config, limit: int | None = None, period: float = 60.0,
           **settings: object) -> ApolloSequencer:
    """The adapter on a limiter of its own (tests must not drain the shared one)."""
    block = replace(config.sequencer_config("apollo"), **settings)  # type: ignore[arg-type]
    return ApolloSequencer(block, RateLimiter(limit=limit, period=period))


def people_of(adapter: ApolloSequencer, emails: list[str]) -> list[tuple[str, str]]:
    """[(Apollo contact id, email)] in the order given."""
    found = dict(zip(*[adapter.people(pa.table({"email": emails})).column(n).to_pylist()
                       for n in ("email", "contact_id")], strict=True))
    return [(found[e], e) for e in emails]


def campaign(adapter: ApolloSequencer, name: str = "Enterprise outbound") -> str:
    rows = adapter.sequences().to_pylist()
    return next(r["sequence_id"] for r in rows if r["name"] == name)


def changes(kind: str, people: list[tuple[str, str]], sequence_id: str,
            sender: str | None = REP, prefix: str = "c",
            start_step: int | None = None) -> pa.Table:
    return support_changes(kind, people, sequence_id, sender, prefix, start_step)


def outcomes(result: pa.Table) -> dict[str, tuple[str, str | None]]:
    assert result.schema == RESULT_SCHEMA
    return {r["change_id"]: (r["outcome"], r["error"]) for r in result.to_pylist()}


def states(read: pa.Table) -> dict[tuple[str, str], str]:
    assert read.schema == ENROLLMENT_SCHEMA
    return {(r["contact_id"], r["sequence_id"]): r["state"] for r in read.to_pylist()}


def fresh_time(sandbox: SandboxClient) -> datetime:
    return parse_time(sandbox.clock())


def sandbox_states(sandbox: SandboxClient) -> list[tuple[str, str]]:
    return sorted((e["email"], e["state"]) for e in sandbox.enrollments()
                  if e["crm"] == "apollo")


@pytest.fixture
def adapter(config: Config) -> ApolloSequencer:
    return apollo(config)


def test_people_are_found_by_email_by_keyword_or_by_listing_all(
        fresh: SandboxClient, adapter: ApolloSequencer) -> None:
    emails = [e for _, e in hubspot_people(fresh, 250)]  # 3 pages of 100
    few = adapter.people(pa.table({"email": [emails[3].upper(), "nobody@example.com"]}))
    assert few.schema == PEOPLE_SCHEMA
    assert few.column("email").to_pylist() == [emails[3]]  # normalized; unknown left out
    searches = [r for r in fresh.requests() if r["path"].startswith("/api/v1/contacts/search")]
    # two emails cost less searched one by one than by reading the other two pages
    assert sum("q_keywords" in r["path"] for r in searches) == 2
    fresh.clear_requests()
    many = adapter.people(pa.table({"email": emails}))
    assert sorted(many.column("email").to_pylist()) == sorted(emails)
    listed = [r for r in fresh.requests() if r["path"].startswith("/api/v1/contacts/search")]
    assert len(listed) == 3 and not any("q_keywords" in r["path"] for r in listed)
    assert len(set(many.column("contact_id").to_pylist())) == 250


def test_enroll_in_batches_confirms_from_the_answer_and_a_resend_adds_nothing(
        fresh: SandboxClient, adapter: ApolloSequencer) -> None:
    people = people_of(adapter, [e for _, e in hubspot_people(fresh, 3)])
    sequence = campaign(adapter)
    first = adapter.enroll(changes("enroll", people, sequence, start_step=2))
    assert {o for o, _ in outcomes(first).values()} == {"confirmed"}
    row = first.to_pylist()[0]
    assert row["enrollment_id"] and "starts them at step 1, not step 2" in row["response"]
    adds = [r for r in fresh.requests() if r["path"].endswith("/add_contact_ids")
            or "/add_contact_ids?" in r["path"]]
    assert len(adds) == 1  # one call for the batch
    again = adapter.enroll(changes("enroll", people, sequence, prefix="again"))
    assert {o for o, _ in outcomes(again).values()} == {"confirmed"}
    assert sorted(e for e, _ in sandbox_states(fresh)) == sorted(e for _, e in people)
    contacts = pa.table({"contact_id": [c for c, _ in people]})
    assert set(states(adapter.enrollments(None, contacts)).values()) == {"active"}
    assert adapter.enrollments(None, contacts).column("step").to_pylist() == [None] * 3


def test_refusals_are_per_row_outcomes(fresh: SandboxClient, adapter: ApolloSequencer) -> None:
    people = people_of(adapter, [e for _, e in hubspot_people(fresh, 4)])
    outbound, webinar = campaign(adapter), campaign(adapter, "Webinar follow-up")
    adapter.enroll(changes("enroll", people[:1], webinar))
    fresh.sequencer_events([{"sequencer": "apollo", "email": people[1][1],
                             "kind": "unsubscribe"}])
    result = outcomes(adapter.enroll(changes("enroll", people, outbound)))
    assert result["c0"][0] == "rejected" and "already in another sequence" in result["c0"][1]
    assert result["c1"][0] == "rejected" and "without a documented reason" in result["c1"][1]
    assert result["c2"][0] == result["c3"][0] == "confirmed"
    no_sender = outcomes(adapter.enroll(changes("enroll", people[2:], webinar, sender=None)))
    assert {o for o, _ in no_sender.values()} == {"rejected"}
    assert "no sender" in no_sender["c0"][1]
    stranger = outcomes(adapter.enroll(changes("enroll", people[2:3], webinar,
                                               sender="nobody@example.com")))
    assert "no Apollo email account for sender nobody@example.com" in stranger["c0"][1]
    # a contact id Apollo refuses (422) refuses only its own change
    bad = changes("enroll", [people[3], ("not-an-id", "x@example.com")], webinar)
    split = outcomes(adapter.enroll(bad))
    assert split["c0"][0] == "rejected" and "already in another sequence" in split["c0"][1]
    assert split["c1"][0] == "rejected" and split["c1"][1].startswith("HTTP 422")


def test_unenroll_removes_from_one_or_every_sequence(fresh: SandboxClient,
                                                     adapter: ApolloSequencer) -> None:
    people = people_of(adapter, [e for _, e in hubspot_people(fresh, 4)])
    outbound, webinar = campaign(adapter), campaign(adapter, "Webinar follow-up")
    adapter.enroll(changes("enroll", people[:2], outbound))
    adapter.enroll(changes("enroll", people[2:3], webinar))
    one = outcomes(adapter.unenroll(changes("unenroll", people[:1], outbound, sender=None)))
    assert one == {"c0": ("confirmed", None)}
    everywhere = changes("unenroll", people[1:], "*", sender=None, prefix="u")
    assert {o for o, _ in outcomes(adapter.unenroll(everywhere)).values()} == {"confirmed"}
    assert [s for _, s in sandbox_states(fresh)] == ["unenrolled"] * 3
    removes = [r for r in fresh.requests() if "remove_or_stop_contact_ids" in r["path"]]
    assert len(removes) == 2 and all("mode=remove" in r["path"] for r in removes)
    # removed contacts have no status left; a complete read shows no enrollment
    assert states(adapter.enrollments(fresh_time(fresh))) == {}


def test_pause_and_resume_are_refused_with_the_reason(adapter: ApolloSequencer,
                                                      fresh: SandboxClient) -> None:
    people = [("66e34b810000000000000001", "a@example.com")]
    for kind in ("pause", "resume"):
        result = outcomes(getattr(adapter, kind)(changes(kind, people, "x", sender=None)))
        assert result["c0"][0] == "rejected" and "no documented pause" in result["c0"][1]
    assert fresh.requests() == []


def test_activity_reads_sends_replies_bounces_and_unsubscribes(
        fresh: SandboxClient, adapter: ApolloSequencer) -> None:
    people = people_of(adapter, [e for _, e in hubspot_people(fresh, 3)])
    adapter.enroll(changes("enroll", people, campaign(adapter)))
    fresh.set_clock("2026-03-02T10:30:00")   # the first step (60 minutes) goes out
    fresh.sequencer_events([
        {"sequencer": "apollo", "email": people[0][1], "kind": "reply"},
        {"sequencer": "apollo", "email": people[1][1], "kind": "bounce"},
        {"sequencer": "apollo", "email": people[2][1], "kind": "unsubscribe"}])
    read = adapter.activity(None)
    assert read.schema == ACTIVITY_SCHEMA
    kinds = sorted((r["email"], r["kind"]) for r in read.to_pylist())
    assert kinds == sorted([(e, "sent") for _, e in people] + [
        (people[0][1], "reply"), (people[1][1], "bounce"), (people[2][1], "unsubscribe")])
    again = adapter.activity(fresh_time(fresh))
    assert set(again.column("activity_id").to_pylist()) <= set(
        read.column("activity_id").to_pylist())
    sent = {r["contact_id"] for r in read.to_pylist() if r["kind"] == "sent"}
    assert sent == {c for c, _ in people}
    # the replier finished, the bounce stopped (paused), the unsubscriber finished
    assert sorted(states(adapter.enrollments(fresh_time(fresh))).values()) == [
        "finished", "finished", "paused"]


def test_a_key_that_is_not_a_master_key_is_a_configuration_error(
        fresh: SandboxClient, config: Config) -> None:
    standard = apollo(config, token=Credential(literal="sandbox-apollo-standard"))
    with pytest.raises(ConfigError, match="must be a master key"):
        standard.sequences()
    wrong = apollo(config, token=Credential(literal="not-a-key"))
    with pytest.raises(ConfigError, match="refused the credentials"):
        wrong.sequences()


def test_the_minute_budget_is_kept_and_a_spent_hour_stops_calls_without_a_429(
        fresh: SandboxClient, config: Config) -> None:
    hubspot_people(fresh, 3)
    fresh.faults(rate_limits={"apollo": {"limit": 4, "window_s": 2}})
    adapter = apollo(config, limit=4, period=2.0)
    for _ in range(3):
        adapter.sequences()
        adapter.people(pa.table({"email": ["p0@example.com"]}))
    assert {r["status"] for r in fresh.requests()} == {200}
    fresh.faults(rate_limits={"apollo": {"limit": 3, "window_s": 3600}})
    fresh.clear_requests()
    hourly = apollo(config)
    for _ in range(3):
        hourly.sequences()
    with pytest.raises(RateLimitExhausted, match="x-hourly-requests-left"):
        hourly.sequences()
    assert [r["status"] for r in fresh.requests()] == [200, 200, 200]


def apollo_scenario(sandbox: SandboxClient, config: Config, db: Path, enrolls: int,
                    unenrolls: int) -> tuple[list[str], list[str], ApolloSequencer]:
    """Outbox rows to enroll `enrolls` people and to take `unenrolls` enrolled ones out."""
    adapter = apollo(config)
    people = people_of(adapter, [e for _, e in hubspot_people(sandbox, enrolls + unenrolls)])
    sequence = campaign(adapter)
    newcomers, leavers = people[:enrolls], people[enrolls:]
    adapter.enroll(changes("enroll", leavers, sequence, prefix="setup"))
    enroll_ids = add_changes(db, "enroll", newcomers, crm="apollo", sequence_id=sequence,
                             sender=REP)
    unenroll_ids = add_changes(db, "unenroll", leavers, crm="apollo", sequence_id=sequence)
    sandbox.clear_requests()
    return enroll_ids, unenroll_ids, adapter


def posted_contacts(sandbox: SandboxClient, path_part: str) -> Counter[str]:
    """contact id -> how many successful calls of that kind named it."""
    counts: Counter[str] = Counter()
    for request in sandbox.requests():
        if path_part in request["path"] and request["status"] == 200:
            query = parse_qs(urlsplit(request["path"]).query)
            counts.update(query.get("contact_ids[]", []))
    return counts


def assert_each_apollo_change_took_effect_once(sandbox: SandboxClient, db: Path,
                                               enrolls: int, unenrolls: int) -> None:
    assert set(statuses(db)) <= {"sent", "confirmed"}
    truth = Counter(e["state"] for e in sandbox.enrollments() if e["crm"] == "apollo")
    assert truth == {"active": enrolls, "unenrolled": unenrolls}
    assert set(posted_contacts(sandbox, "/add_contact_ids").values()) <= {1}
    assert set(posted_contacts(sandbox, "remove_or_stop_contact_ids").values()) <= {1}


def test_server_errors_on_apollo_lose_and_double_nothing(
        fresh: SandboxClient, config: Config, db: Path) -> None:
    apollo_config = replace(config, sequencer="apollo")
    _, _, adapter = apollo_scenario(fresh, config, db, enrolls=120, unenrolls=120)
    fresh.faults(error_rate=0.3, seed=4)
    result = post_pending(db, apollo_config, NOW, sequencer=adapter)
    fresh.faults()
    assert result.stopped is None and result.pending == 0 and result.rejected == 0
    assert 500 in [r["status"] for r in fresh.requests()]
    assert_each_apollo_change_took_effect_once(fresh, db, 120, 120)
    # a change whose call failed was read back (by listing the contacts, cheaper here
    # than one read each) before it was sent again
    assert result.retried and any(r["path"].startswith("/api/v1/contacts/search")
                                  for r in fresh.requests())


def test_an_apollo_poster_killed_mid_way_posts_every_change_once(
        fresh: SandboxClient, config: Config, db: Path) -> None:
    _, _, adapter = apollo_scenario(fresh, config, db, enrolls=120, unenrolls=120)
    fresh.faults(latency_ms=20)
    done = []
    for calls in (3, 5, 8):
        seen = len(fresh.requests())
        poster = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/post/run_poster.py"), str(db), fresh.url,
             fresh.cert, "apollo", NOW.isoformat()],
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
            cwd=ROOT)
        assert poster.stdout is not None and poster.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while poster.poll() is None and time.monotonic() < deadline:
            if len(fresh.requests(since=seen)) >= calls:
                time.sleep(0.01)  # the call is in the sandbox, its answer not yet home
                break
            time.sleep(0.002)
        if poster.poll() is None:
            os.kill(poster.pid, signal.SIGKILL)
        poster.wait()
        done.append(sum(statuses(db)[s] for s in ("sent", "confirmed")))
    assert any(0 < d < 240 for d in done), done  # a kill cut a pass short
    fresh.faults()
    result = post_pending(db, replace(config, sequencer="apollo"), NOW, sequencer=adapter)
    assert result.stopped is None and result.pending == 0 and result.rejected == 0
    assert_each_apollo_change_took_effect_once(fresh, db, 120, 120)


def test_seqguard_yml_sequencer_apollo_builds_this_adapter(config: Config) -> None:
    from tasks.post.sequencers import sequencer_for

    adapter = sequencer_for(replace(config, sequencer="apollo"))
    assert isinstance(adapter, ApolloSequencer) and adapter.crm == "apollo"
    assert adapter.limiter.period == 60.0 and adapter.limiter.limit == 200  # type: ignore
