"""Both sequencer adapters against the sandbox over HTTPS: sets in, sets out."""

from __future__ import annotations

import json

import pyarrow as pa
from post_support import (
    CADENCE_101,
    changes,
    hubspot,
    hubspot_people,
    salesforce,
    salesforce_people,
    successful_posts,
    workflow_ran,
)

from sandbox.client import SandboxClient
from tasks.core.config import Config
from tasks.post.sequencers.base import ENROLLMENT_SCHEMA, RESULT_SCHEMA


def by_change(result: pa.Table) -> dict[str, dict]:
    return {r["change_id"]: r for r in result.to_pylist()}


def states(enrollments: pa.Table) -> dict[tuple[str, str], str]:
    return {(r["contact_id"], r["sequence_id"]): r["state"] for r in enrollments.to_pylist()}


def test_hubspot_enrolls_reads_state_and_unenrolls_by_property(fresh: SandboxClient,
                                                               config: Config) -> None:
    people = hubspot_people(fresh, 3)
    adapter = hubspot(config)
    enrolled = adapter.enroll(changes("enroll", people))
    assert enrolled.schema == RESULT_SCHEMA
    assert {r["outcome"] for r in enrolled.to_pylist()} == {"sent"}
    assert all(r["enrollment_id"] for r in enrolled.to_pylist())

    contacts = pa.table({"contact_id": [c for c, _ in people]})
    read = adapter.enrollments(None, contacts)
    assert read.schema == ENROLLMENT_SCHEMA
    # the status call names the enrollment; HubSpot shows no step
    assert set(states(read).values()) == {"active"}
    assert {r["email"] for r in read.to_pylist()} == {e for _, e in people}
    assert {r["step"] for r in read.to_pylist()} == {None}

    adapter.prepare({"unenroll"})  # creates the three contact properties
    gone = adapter.unenroll(changes("unenroll", people[:2], prefix="u"))
    assert [r["outcome"] for r in gone.to_pylist()] == ["sent", "sent"]
    # the workflow acts later: until then the status call still names both enrollments
    assert len(states(adapter.enrollments(None, contacts))) == 3
    workflow_ran(fresh)
    # then only the contact still in a sequence has an enrollment to name
    assert states(adapter.enrollments(None, contacts)) == {(people[2][0], "101"): "active"}
    # the change id travels in the reason, so a write that landed can be recognised
    written = adapter.written(changes("unenroll", people[:2], prefix="u"))
    assert sorted(written.column("change_id").to_pylist()) == ["u0", "u1"]
    assert successful_posts(fresh, "/crm/v3/objects/contacts/batch/update") == 1
    # a second prepare finds the properties and creates nothing
    adapter.prepare({"unenroll"})
    hubspot(config).prepare({"unenroll"})
    assert successful_posts(fresh, "/crm/v3/properties/contacts") == 3


def test_hubspot_refusals_come_back_with_their_subcategory(fresh: SandboxClient,
                                                           config: Config) -> None:
    people = hubspot_people(fresh, 2)
    unsubscribed = hubspot_people(fresh, 1, prefix="optout", hs_email_optout="true")
    adapter = hubspot(config)
    adapter.enroll(changes("enroll", people[:1]))
    answers = by_change(adapter.enroll(pa.concat_tables([
        changes("enroll", people[:1], sequence_id="102", prefix="again"),
        changes("enroll", unsubscribed, prefix="unsub"),
        changes("enroll", people[1:], sequence_id="999", prefix="nosuch"),
    ])))
    assert answers["again0"]["outcome"] == "rejected"
    assert answers["again0"]["error"].startswith("ALREADY_ENROLLED: ")
    assert answers["unsub0"]["error"].startswith("CONTACT_UNSUBSCRIBED: ")
    assert answers["nosuch0"]["error"].startswith("SEQUENCE_NOT_FOUND: ")
    # HubSpot has no pause: refused here, not silently dropped
    paused = adapter.pause(changes("pause", people[:1]))
    assert paused.column("outcome").to_pylist() == ["rejected"]


def test_hubspot_lists_sequences(fresh: SandboxClient, config: Config) -> None:
    listed = hubspot(config).sequences().to_pylist()
    assert listed == [{"sequence_id": "101", "name": "Enterprise outbound"},
                      {"sequence_id": "102", "name": "Webinar follow-up"}]


def test_salesforce_assigns_pauses_resumes_and_removes(fresh: SandboxClient,
                                                       config: Config) -> None:
    people = salesforce_people(fresh, 3)
    adapter = salesforce(config)
    assert adapter.sequences().to_pylist()[0] == {"sequence_id": CADENCE_101,
                                                  "name": "Enterprise outbound"}
    enrolled = adapter.enroll(changes("enroll", people, sequence_id=CADENCE_101))
    assert set(enrolled.column("outcome").to_pylist()) == {"sent"}
    contacts = pa.table({"contact_id": [c for c, _ in people]})
    read = adapter.enrollments(None, contacts)
    assert set(states(read).values()) == {"active"}
    assert {r["email"] for r in read.to_pylist()} == {e for _, e in people}
    assert all(r["enrollment_id"].startswith("0qB") for r in read.to_pylist())
    assert {r["step"] for r in read.to_pylist()} == {0}

    first, second, third = ((c, CADENCE_101) for c, _ in people)
    adapter.pause(changes("pause", people[:2], sequence_id=CADENCE_101, prefix="p"))
    assert states(adapter.enrollments(None, contacts))[first] == "paused"
    adapter.resume(changes("resume", people[:1], sequence_id=CADENCE_101, prefix="r"))
    adapter.unenroll(changes("unenroll", people[2:], sequence_id=CADENCE_101, prefix="u"))
    after = states(adapter.enrollments(None, contacts))
    assert after == {first: "active", second: "paused", third: "unenrolled"}
    # the incremental read (since) sees the same trackers
    assert states(adapter.enrollments(fresh_time(fresh))) == after
    assert adapter.sequences().num_rows == 2


def fresh_time(sandbox: SandboxClient):
    from datetime import datetime, timedelta

    return datetime.fromisoformat(sandbox.clock().replace("Z", "")) - timedelta(days=1)


def test_salesforce_refusals_are_per_input(fresh: SandboxClient, config: Config) -> None:
    people = salesforce_people(fresh, 2)
    opted_out = salesforce_people(fresh, 1, prefix="optout", HasOptedOutOfEmail=True)
    adapter = salesforce(config)
    adapter.enroll(changes("enroll", people[:1], sequence_id=CADENCE_101))
    answers = by_change(adapter.enroll(pa.concat_tables([
        changes("enroll", people[:1], sequence_id=CADENCE_101, prefix="again"),
        changes("enroll", opted_out, sequence_id=CADENCE_101, prefix="unsub"),
        changes("enroll", people[1:], sequence_id=CADENCE_101, prefix="ok"),
    ])))
    assert answers["again0"]["outcome"] == "rejected"
    assert "already enrolled" in answers["again0"]["error"]
    assert answers["unsub0"]["error"].startswith("UNKNOWN_EXCEPTION: ")
    assert "unsubscribed" in answers["unsub0"]["error"]
    assert answers["ok0"]["outcome"] == "sent"  # its neighbours' refusals do not fail it
    # removing someone who is in no cadence asks nothing: the effect is already there
    fresh.clear_requests()
    removed = adapter.unenroll(changes("unenroll", opted_out, sequence_id=CADENCE_101,
                                       prefix="rm"))
    assert removed.column("outcome").to_pylist() == ["confirmed"]
    assert not [r for r in fresh.requests() if "/actions/" in r["path"]]


def test_salesforce_sends_at_most_200_inputs_per_call(fresh: SandboxClient,
                                                      config: Config, db) -> None:
    from post_support import NOW, add_changes, on_salesforce, statuses

    from tasks.post.poster import post_pending

    people = salesforce_people(fresh, 450)
    add_changes(db, "enroll", people, crm="salesforce", sender=None)
    result = post_pending(db, on_salesforce(config), NOW, sequencer=salesforce(config))
    assert (result.sent, result.batches) == (450, 3)
    assert statuses(db) == {"sent": 450}
    assert successful_posts(
        fresh, "/services/data/v59.0/actions/standard/assignTargetToSalesCadence") == 3


def test_salesforce_starts_a_recovered_target_at_its_step(fresh: SandboxClient,
                                                          config: Config) -> None:
    people = salesforce_people(fresh, 2)
    adapter = salesforce(config)
    answers = adapter.enroll(pa.concat_tables([
        changes("enroll", people[:1], sequence_id=CADENCE_101, start_step=3, prefix="mid"),
        changes("enroll", people[1:], sequence_id=CADENCE_101, prefix="new")]))
    assert answers.column("outcome").to_pylist() == ["sent", "sent"]
    steps = {e["contact_id"]: e["step"] for e in fresh.enrollments()}
    # steps before the start count as sent; a plain assignment starts from the top
    assert steps == {people[0][0]: 2, people[1][0]: 0}
    sent = [r for r in fresh.requests() if "assignTargetToSalesCadence" in r["path"]]
    assert len(sent) == 1


def test_salesforce_refuses_a_start_step_the_cadence_lacks_per_input(
        fresh: SandboxClient, config: Config, salesforce_client) -> None:
    people = salesforce_people(fresh, 2)
    answers = by_change(salesforce(config).enroll(pa.concat_tables([
        changes("enroll", people[:1], sequence_id=CADENCE_101, start_step=4, prefix="past"),
        changes("enroll", people[1:], sequence_id=CADENCE_101, start_step=2, prefix="ok")])))
    assert answers["past0"]["outcome"] == "rejected"
    assert answers["past0"]["error"] == (
        f"start step unknown: cadence {CADENCE_101} has no step 4 (steps 1 to 3)")
    assert answers["ok0"]["outcome"] == "sent"
    # a step the cadence does not have is refused per input by Salesforce too
    answer = salesforce_client.restful(
        "actions/standard/assignTargetToSalesCadence", method="POST", json={"inputs": [
            {"salesCadenceNameOrId": CADENCE_101, "targetId": people[0][0],
             "startStepNameOrId": "Intro email"}]})
    assert answer[0]["isSuccess"] is False
    assert answer[0]["errors"][0]["statusCode"] == "UNKNOWN_EXCEPTION"
    assert "no step 'Intro email'" in answer[0]["errors"][0]["message"]
    assert {e["contact_id"] for e in fresh.enrollments()} == {people[1][0]}


def test_hubspot_enroll_has_no_start_step_and_says_so(fresh: SandboxClient,
                                                      config: Config) -> None:
    people = hubspot_people(fresh, 1)
    answer = hubspot(config).enroll(changes("enroll", people, start_step=3)).to_pylist()[0]
    assert answer["outcome"] == "sent"
    assert json.loads(answer["response"])["seqguard_note"] == (
        "HubSpot restarts them at step 1, not step 3: its enrollment API cannot start "
        "mid-sequence")
    assert [e["step"] for e in fresh.enrollments()] == [0]
