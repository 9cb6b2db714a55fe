"""Posting the outbox and reading the sequencer back: marks, refusals, order, read-back."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from post_support import (
    NOW,
    add_changes,
    enrollment_counts,
    hubspot,
    hubspot_people,
    on_salesforce,
    outbox,
    read_hubspot,
    salesforce,
    salesforce_people,
    statuses,
    successful_posts,
    sync_contacts,
    unenroll_writes,
    workflow_ran,
)

from sandbox.client import SandboxClient
from tasks.core.config import Config
from tasks.core.errors import ConfigError, SequencerRejected
from tasks.db.store import connect
from tasks.post.poster import post_pending, raise_for_refusals
from tasks.post.reads import read_enrollments

ENROLL_PATH = "/automation/v4/sequences/enrollments"
STATUS_PATH = "/automation/v4/sequences/enrollments/contact/"
BATCH_UPDATE_PATH = "/crm/v3/objects/contacts/batch/update"


def status_reads(sandbox: SandboxClient) -> int:
    return sum(1 for r in sandbox.requests() if r["path"].startswith(STATUS_PATH))


def test_posted_changes_are_sent_then_confirmed_by_the_next_read(
        fresh: SandboxClient, config: Config, db: Path) -> None:
    people = hubspot_people(fresh, 4)
    enrolls = add_changes(db, "enroll", people)
    posted = post_pending(db, config, NOW, sequencer=hubspot(config))
    assert (posted.sent, posted.pending, posted.rejected) == (4, 0, 0)
    rows = outbox(db)
    assert all(rows[c]["status"] == "sent" and rows[c]["attempts"] == 1 for c in enrolls)
    assert all(rows[c]["enrollment_id"] for c in enrolls)

    fresh.clear_requests()
    read = read_hubspot(db, config, NOW)
    assert (read.sequences, read.new_enrollments, read.confirmed) == (2, 4, 4)
    # the enroll call's answers name the enrollments: no status call is needed
    assert status_reads(fresh) == 0
    assert statuses(db) == {"confirmed": 4}
    with connect(db) as con:
        assert con.execute("select count(*) from ops.enrollments where state = 'active' "
                           "and step is null").fetchone()[0] == 4
        events = con.execute("select to_state, actor, reason from ops.enrollment_events"
                             ).fetchall()
        assert {e[:2] for e in events} == {("active", "sequencer")}
        assert all(e[2].startswith("posted change run-1-enroll-") for e in events)

    unenrolls = add_changes(db, "unenroll", people[:3], run_id="run-2")
    assert post_pending(db, config, NOW, sequencer=hubspot(config)).sent == 3
    # the workflow has not run yet: written, not claimed
    assert read_hubspot(db, config, NOW).unverified_total == 3
    later = workflow_ran(fresh)
    read = read_hubspot(db, config, later)
    assert (read.state_changes, read.confirmed, read.unverified) == (3, 3, [])
    assert all(outbox(db)[c]["status"] == "confirmed" for c in unenrolls)
    assert unenroll_writes(fresh) == {c: 1 for c in unenrolls}
    assert status_reads(fresh) == 0


def test_refusals_are_recorded_and_never_retried(fresh: SandboxClient, config: Config,
                                                 db: Path) -> None:
    people = hubspot_people(fresh, 1)
    unsubscribed = hubspot_people(fresh, 1, prefix="optout", hs_email_optout="true")
    add_changes(db, "enroll", people, prefix="first")
    add_changes(db, "enroll", unsubscribed, prefix="unsub")
    add_changes(db, "enroll", people, sequence_id="102", prefix="second")
    result = post_pending(db, config, NOW, sequencer=hubspot(config))
    assert (result.sent, result.rejected) == (1, 2)
    rows = outbox(db)
    assert rows["unsub-0"]["status"] == "rejected"
    assert rows["unsub-0"]["error"].startswith("CONTACT_UNSUBSCRIBED: ")
    assert rows["second-0"]["error"].startswith("ALREADY_ENROLLED: ")
    assert any("CONTACT_UNSUBSCRIBED" in e for e in result.errors)
    # a user who asked for these gets one line and a non-zero exit
    with pytest.raises(SequencerRejected,
                       match=r"hubspot refused to enroll p0@example.com \(sequence 102\): "
                             r"ALREADY_ENROLLED: .* \(1 more refused; see ops.outbox\)"):
        raise_for_refusals(db, ["first-0", "unsub-0", "second-0"])
    raise_for_refusals(db, ["first-0"])  # sent: nothing to say
    # a second pass sends nothing: refusals stay refused
    fresh.clear_requests()
    again = post_pending(db, config, NOW, sequencer=hubspot(config))
    assert (again.sent, again.rejected, again.batches) == (0, 0, 0)
    assert successful_posts(fresh, ENROLL_PATH) == 0


def test_a_later_unenroll_is_not_overtaken_by_an_earlier_enroll(
        fresh: SandboxClient, config: Config, db: Path) -> None:
    person = hubspot_people(fresh, 1)
    add_changes(db, "enroll", person, prefix="enroll", created_at=NOW)
    add_changes(db, "unenroll", person, prefix="unenroll", created_at=NOW + timedelta(minutes=1))
    post_pending(db, config, NOW, sequencer=hubspot(config))
    later = workflow_ran(fresh)
    assert [e["state"] for e in fresh.enrollments()] == ["unenrolled"]
    # and a swap decided in one run: out of 101 first; into 102 only once HubSpot shows
    # the person out (its workflow acts later, and it allows one sequence at a time)
    other = hubspot_people(fresh, 1, prefix="swap")
    add_changes(db, "enroll", other, prefix="swap-in-101", created_at=later)
    post_pending(db, config, later, sequencer=hubspot(config))
    add_changes(db, "enroll", other, sequence_id="102", prefix="swap-in", run_id="run-2",
                created_at=later)
    add_changes(db, "unenroll", other, sequence_id="101", prefix="swap-out", run_id="run-2",
                created_at=later)
    result = post_pending(db, config, later, sequencer=hubspot(config))
    assert (result.sent, result.rejected, result.pending) == (1, 0, 1)
    after = workflow_ran(fresh, later)
    read_hubspot(db, config, after)
    assert outbox(db)["swap-out-0"]["status"] == "confirmed"
    result = post_pending(db, config, after, sequencer=hubspot(config))
    assert (result.sent, result.rejected, result.pending) == (1, 0, 0)
    states = {(e["contact_id"], e["sequence_id"]): e["state"] for e in fresh.enrollments()}
    assert states[(other[0][0], "101")] == "unenrolled"
    assert states[(other[0][0], "102")] == "active"


def test_a_row_that_may_have_been_sent_is_read_back_not_resent(
        fresh: SandboxClient, config: Config, db: Path) -> None:
    """The crash window: the call went out, the answer was never recorded."""
    people = hubspot_people(fresh, 3)
    sync_contacts(db, config)  # the cycle synced before it posted
    add_changes(db, "enroll", people)
    adapter = hubspot(config)
    # what a crashed poster leaves: the first two sent, all three marked as attempted
    adapter.enroll(_as_changes(db, ["run-1-enroll-0", "run-1-enroll-1"]))
    with connect(db) as con:
        con.execute("update ops.outbox set attempts = 1, attempted_at = ?", [NOW])
    fresh.clear_requests()
    result = post_pending(db, config, NOW, sequencer=hubspot(config))
    assert (result.confirmed, result.sent) == (2, 1)
    assert successful_posts(fresh, ENROLL_PATH) == 1
    assert set(enrollment_counts(fresh).values()) == {1}
    assert statuses(db) == {"confirmed": 2, "sent": 1}


def test_an_unenroll_is_confirmed_by_its_own_enrollment_though_a_new_one_started(
        fresh: SandboxClient, config: Config, db: Path) -> None:
    """The person was enrolled again in the same sequence before the read (by a rep): the
    unenroll still took effect on the enrollment it targeted, so it is confirmed, and the
    new enrollment is read (status call) and left for the next decision."""
    people = hubspot_people(fresh, 1)
    add_changes(db, "enroll", people)
    post_pending(db, config, NOW, sequencer=hubspot(config))
    read_hubspot(db, config, NOW)
    with connect(db) as con:
        first = con.execute("select enrollment_id from ops.enrollments").fetchall()[0][0]
    [unenroll] = add_changes(db, "unenroll", people, run_id="run-2")
    with connect(db) as con:
        con.execute("update ops.outbox set enrollment_id = ? where change_id = ?",
                    [first, unenroll])
    assert post_pending(db, config, NOW, sequencer=hubspot(config)).sent == 1
    later = workflow_ran(fresh)
    rep = hubspot(config).enroll(_changes_of(people, "rep-0"))
    assert rep.column("outcome").to_pylist() == ["sent"]
    fresh.clear_requests()
    read_hubspot(db, config, later + timedelta(minutes=10))
    assert status_reads(fresh) == 1  # the rep's enrollment, which seqguard did not make
    assert outbox(db)[unenroll]["status"] == "confirmed"
    with connect(db) as con:
        assert con.execute("select enrollment_id = ?, state from ops.enrollments "
                           "order by enrolled_at, enrollment_id", [first]).fetchall() == [
            (True, "unenrolled"), (False, "active")]


def test_an_unenroll_not_carried_out_is_listed_with_its_owner_never_claimed(
        fresh: SandboxClient, config: Config, db: Path) -> None:
    fresh.workflow(None)  # nobody built the workflow in this account: it never runs
    people = hubspot_people(fresh, 2)
    add_changes(db, "enroll", people)
    post_pending(db, config, NOW, sequencer=hubspot(config))
    read_hubspot(db, config, NOW)
    with connect(db) as con:
        con.execute("insert into crm.people (email, owner_email, hubspot_id) values (?, ?, ?)",
                    [people[0][1], "owner@example.com", people[0][0]])
    add_changes(db, "unenroll", people[:1], run_id="run-2")
    assert post_pending(db, config, NOW, sequencer=hubspot(config)).sent == 1
    for minutes in (15, 30, 45):
        later = workflow_ran(fresh, NOW, minutes)
        read = read_hubspot(db, config, later)
        assert [(u["email"], u["owner_email"], u["rule"]) for u in read.unverified] == [
            (people[0][1], "owner@example.com", "open_opportunity")]
        assert outbox(db)["run-2-unenroll-0"]["status"] == "sent"
        assert post_pending(db, config, later, sequencer=hubspot(config)).batches == 0
    assert [e["state"] for e in fresh.enrollments()] == ["active", "active"]
    assert successful_posts(fresh, BATCH_UPDATE_PATH) == 1


def test_a_write_that_reached_hubspot_is_not_resent_while_the_workflow_lags(
        fresh: SandboxClient, config: Config, db: Path) -> None:
    people = hubspot_people(fresh, 2)
    add_changes(db, "enroll", people)
    post_pending(db, config, NOW, sequencer=hubspot(config))
    changes = add_changes(db, "unenroll", people, run_id="run-2")
    # a crash after the batch update: attempted, unanswered; HubSpot holds the reason
    # (written here without the trigger property, as if the workflow had not run yet)
    hubspot(config).prepare({"unenroll"})
    fresh.upsert_hubspot("contacts", [{"id": people[0][0], "properties": {
        "seqguard_unenroll_reason": f"{changes[0]} open deal: Acme renewal"}}])
    with connect(db) as con:
        con.execute("update ops.outbox set attempts = 1, attempted_at = ? where run_id = 'run-2'",
                    [NOW])
    fresh.clear_requests()
    result = post_pending(db, config, NOW, sequencer=hubspot(config))
    assert (result.sent, result.batches) == (2, 1)  # the second one is posted, alone
    assert unenroll_writes(fresh) == {changes[1]: 1}
    assert outbox(db)[changes[0]]["status"] == "sent"


def test_held_rows_and_other_runs_are_left_alone(fresh: SandboxClient, config: Config,
                                                 db: Path) -> None:
    people = hubspot_people(fresh, 3)
    add_changes(db, "enroll", people[:1], run_id="held-run", status="held")
    add_changes(db, "enroll", people[1:2], run_id="other-run")
    add_changes(db, "enroll", people[2:], run_id="this-run")
    result = post_pending(db, config, NOW, run_id="this-run", sequencer=hubspot(config))
    assert (result.sent, result.pending) == (1, 0)
    assert {r["run_id"]: r["status"] for r in outbox(db).values()} == {
        "held-run": "held", "other-run": "pending", "this-run": "sent"}


def test_people_are_resolved_from_crm_people_or_fail_with_the_reason(
        fresh: SandboxClient, config: Config, db: Path) -> None:
    known = hubspot_people(fresh, 1)
    add_changes(db, "enroll", [(None, known[0][1])], prefix="known", sender=None)
    add_changes(db, "enroll", [(None, "ghost@example.com")], prefix="ghost")
    with connect(db) as con:
        con.execute("insert into crm.people (email, owner_email, hubspot_id) values (?, ?, ?)",
                    [known[0][1], "rep@example.com", known[0][0]])
    result = post_pending(db, config, NOW, sequencer=hubspot(config))
    assert (result.sent, result.failed) == (1, 1)
    rows = outbox(db)
    assert (rows["known-0"]["contact_id"], rows["known-0"]["sender"]) == (
        known[0][0], "rep@example.com")
    assert rows["ghost-0"]["status"] == "failed"
    assert "ghost@example.com" in rows["ghost-0"]["error"]


def test_salesforce_cadence_changes_post_and_read_back(fresh: SandboxClient, config: Config,
                                                       db: Path) -> None:
    config = on_salesforce(config)
    people = salesforce_people(fresh, 5)
    add_changes(db, "enroll", people, crm="salesforce", sender=None)
    assert post_pending(db, config, NOW, sequencer=salesforce(config)).sent == 5
    first = read_enrollments(db, config, NOW, sequencer=salesforce(config))
    assert (first.new_enrollments, first.confirmed) == (5, 5)
    add_changes(db, "pause", people[:2], crm="salesforce", run_id="run-2")
    add_changes(db, "unenroll", people[2:3], crm="salesforce", run_id="run-2")
    add_changes(db, "resume", people[:1], crm="salesforce", run_id="run-3",
                created_at=NOW + timedelta(minutes=5))
    posted = post_pending(db, config, NOW, sequencer=salesforce(config))
    assert (posted.sent, posted.rejected) == (4, 0)
    read = read_enrollments(db, config, NOW, sequencer=salesforce(config))
    assert read.confirmed == 4
    with connect(db) as con:
        states = dict(con.execute("select contact_id, state from ops.enrollments").fetchall())
    assert [states[c] for c, _ in people] == ["active", "paused", "unenrolled", "active",
                                              "active"]
    assert statuses(db) == {"confirmed": 9}


def _changes_of(people: list[tuple[str, str]], change_id: str) -> pa.Table:
    """One enroll into 101 as a change table (a rep's enrollment, made outside the outbox)."""
    from tasks.post.sequencers.base import CHANGE_SCHEMA

    [(contact_id, email)] = people
    return pa.Table.from_pylist([{
        "change_id": change_id, "kind": "enroll", "sequence_id": "101", "email": email,
        "contact_id": contact_id, "sender": "rep@example.com"}], schema=CHANGE_SCHEMA)


def _as_changes(db: Path, change_ids: list[str]) -> pa.Table:
    from tasks.post.sequencers.base import CHANGE_SCHEMA

    with connect(db) as con:
        return con.sql(
            f"select {', '.join(CHANGE_SCHEMA.names)} from ops.outbox "
            "where change_id in (select unnest(?::varchar[])) order by change_id",
            params=[change_ids]).to_arrow_table()


def test_a_sequence_property_the_account_lacks_fails_the_read_naming_it_and_the_fix(
        fresh: SandboxClient, config: Config, db: Path) -> None:
    sync_contacts(db, config)
    adapter = hubspot(config)
    # an account whose property list lacks one of them (the adapter's one read of it)
    lacking = adapter.contact_properties() - {"hs_latest_sequence_finished_date"}
    adapter.contact_properties = lambda: lacking  # type: ignore[method-assign]
    with pytest.raises(ConfigError, match=(
            r"^HubSpot: contact property hs_latest_sequence_finished_date missing from the "
            r"account's property list \(/crm/v3/properties/contacts\); seqguard reads .*"
            r"Sales Hub or Service Hub Professional")):
        read_enrollments(db, config, NOW, sequencer=adapter)


def test_a_read_before_any_hubspot_sync_says_to_sync_first(
        fresh: SandboxClient, config: Config, db: Path) -> None:
    with pytest.raises(ConfigError, match=r"^raw_hubspot.contacts has no "
                                          r"hs_sequences_is_enrolled, .*run `seqguard cycle`"):
        read_enrollments(db, config, NOW, sequencer=hubspot(config))
