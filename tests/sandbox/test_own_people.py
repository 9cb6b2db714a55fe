"""The sandbox's sequencers of their own (Outreach, Salesloft, Apollo), vendor-neutral:
people mirrored from the CRMs by email with stable ids, the shared sequencer sending to
them, the activity it records and what recipients do, and the Gate's per-vendor parts."""

from __future__ import annotations

from datetime import datetime

import pytest

from sandbox import activity, people, sequencer, vendors
from sandbox.client import SandboxClient
from sandbox.faults import Faults
from sandbox.state import SandboxState

NOW = datetime(2026, 3, 2, 9, 0)
SEQUENCE = {"id": "41", "name": "Own people", "steps": [{"after_minutes": 0},
                                                        {"after_minutes": 60}]}


@pytest.fixture
def state() -> SandboxState:
    """An in-process sandbox with two HubSpot contacts, a Salesforce Lead sharing one of
    their emails, and an opted-out Salesforce Contact."""
    from sandbox import generate, hubspot_api, salesforce_api

    state = SandboxState()
    state.set_clock(NOW)
    generate.seed_metadata(state)
    hubspot_api.upsert_records(state, "contacts", [
        {"properties": {"email": "Ann@Acme.test"}}, {"properties": {"email": "bo@acme.test"}}])
    salesforce_api.upsert_records(state, "Lead", [
        {"LastName": "Ann", "Company": "Acme", "Email": "ann@acme.test"}])
    salesforce_api.upsert_records(state, "Contact", [
        {"LastName": "Cy", "Email": "cy@cyco.test", "HasOptedOutOfEmail": True}])
    sequencer.define_sequences(state, [SEQUENCE])
    return state


def person_ids(state: SandboxState, name: str) -> dict[str, int]:
    return {r["email"]: r["id"] for r in state.rows(
        "select email, id from sb_people where sequencer = ?", [name])}


def test_each_crm_email_is_one_person_per_sequencer_with_ids_kept(state: SandboxState) -> None:
    people.mirrored(state, "outreach")
    first = person_ids(state, "outreach")
    assert sorted(first) == ["ann@acme.test", "bo@acme.test", "cy@cyco.test"]
    from sandbox import hubspot_api

    hubspot_api.upsert_records(state, "contacts", [{"properties": {"email": "al@acme.test"}}])
    people.mirrored(state, "outreach")
    again = person_ids(state, "outreach")
    assert {e: again[e] for e in first} == first  # kept, the newcomer numbered after
    assert again["al@acme.test"] > max(first.values())
    people.mirrored(state, "apollo")
    assert sorted(person_ids(state, "apollo")) == sorted(again)
    opted = state.rows("select email from sb_people where opted_out and sequencer = 'outreach'")
    assert opted == [{"email": "cy@cyco.test"}]  # the CRM's opt-out carried at mirroring


def test_owners_and_users_are_the_senders(state: SandboxState) -> None:
    people.mirrored(state, "salesloft")
    owners = {r["email"].lower() for r in state.rows("select email from hs_owners")}
    senders = {r["email"] for r in state.rows("select email from sb_senders")}
    assert owners <= senders and senders


def test_the_shared_sequencer_sends_to_a_person_of_its_own(state: SandboxState) -> None:
    people.mirrored(state, "outreach")
    ann = person_ids(state, "outreach")["ann@acme.test"]
    row = sequencer.enroll(state, crm="outreach", contact_id=str(ann), sequence_id="41",
                           sender="rep@example.com")
    assert (row["crm"], row["email"], row["state"]) == ("outreach", "ann@acme.test", "active")
    with pytest.raises(sequencer.EnrollmentRefused, match="already enrolled"):
        sequencer.enroll(state, crm="outreach", contact_id=str(ann), sequence_id="41",
                         sender=None)
    cy = person_ids(state, "outreach")["cy@cyco.test"]
    with pytest.raises(sequencer.EnrollmentRefused, match="unsubscribed"):
        sequencer.enroll(state, crm="outreach", contact_id=str(cy), sequence_id="41",
                         sender=None)
    with pytest.raises(sequencer.EnrollmentRefused, match="does not exist"):
        sequencer.enroll(state, crm="outreach", contact_id="999999", sequence_id="41",
                         sender=None)
    assert sequencer.tick(state) == 1
    sent = state.rows("select kind, person_id, step, sequence_id from sb_activity")
    assert sent == [{"kind": "sent", "person_id": ann, "step": 1, "sequence_id": "41"}]
    # no CRM engagement: Outreach's sends are its own record, not HubSpot's or Salesforce's
    assert state.rows("select count(*) as n from sf_task")[0]["n"] == 0
    assert state.rows("select count(*) as n from hs_emails")[0]["n"] == 0
    paused = sequencer.change_states(state, crm="outreach", to_state="paused", targets=[
        {"contact_id": str(ann), "sequence_id": "41", "reason": None}])
    assert [p["state"] for p in paused] == ["paused"]


@pytest.mark.parametrize("kind, state_after, reason, flag", [
    ("reply", "finished", "replied", None),
    ("bounce", "paused", "bounced", "bounced"),
    ("unsubscribe", "finished", "opted_out", "opted_out"),
])
def test_a_recipients_event_answers_the_last_send_and_stops_the_enrollment(
        state: SandboxState, kind: str, state_after: str, reason: str, flag: str | None) -> None:
    people.mirrored(state, "outreach")
    bo = person_ids(state, "outreach")["bo@acme.test"]
    sequencer.enroll(state, crm="outreach", contact_id=str(bo), sequence_id="41", sender=None)
    sequencer.tick(state)
    state.set_clock(datetime(2026, 3, 2, 9, 30))
    [row] = activity.record_events(state, [{"sequencer": "outreach", "email": "BO@acme.test",
                                            "kind": kind, "at": "2026-03-02T09:20:00Z"}])
    [send] = state.rows("select id from sb_activity where kind = 'sent'")
    assert (row["kind"], row["sent_id"], row["step"], row["occurred_at"], row["recorded_at"]) == (
        kind, send["id"], 1, datetime(2026, 3, 2, 9, 20), datetime(2026, 3, 2, 9, 30))
    [enrollment] = state.rows("select state, reason from sb_enrollments")
    assert (enrollment["state"], enrollment["reason"]) == (state_after, reason)
    state.set_clock(datetime(2026, 3, 2, 12, 0))
    assert sequencer.tick(state) == 0  # nothing more goes out
    if flag:
        assert state.rows(f"select {flag} from sb_people where id = ?", [bo])[0][flag]


def test_events_name_a_known_person_and_a_documented_kind(state: SandboxState) -> None:
    with pytest.raises(ValueError, match="no person nobody@acme.test"):
        activity.record_events(state, [{"sequencer": "outreach", "email": "nobody@acme.test",
                                        "kind": "reply"}])
    with pytest.raises(ValueError, match="kind 'click'"):
        activity.record_events(state, [{"sequencer": "outreach", "email": "bo@acme.test",
                                        "kind": "click"}])
    with pytest.raises(ValueError, match="no people of its own"):
        activity.record_events(state, [{"sequencer": "hubspot", "email": "bo@acme.test",
                                        "kind": "reply"}])


def test_each_vendor_path_and_credential_belongs_to_its_api() -> None:
    for path, name, headers in [
        ("/crm/v3/objects/contacts", "hubspot", {b"authorization": b"Bearer sandbox-token"}),
        ("/services/data/v59.0/query", "salesforce",
         {b"authorization": b"OAuth sandbox-session"}),
        ("/api/v2/prospects", "outreach", {b"authorization": b"Bearer sandbox-outreach"}),
        ("/v2/people", "salesloft", {b"authorization": b"Bearer sandbox-salesloft"}),
        ("/api/v1/contacts/search", "apollo", {b"x-api-key": b"sandbox-apollo"}),
    ]:
        api = vendors.api_of(path)
        assert api is not None and api.name == name
        assert api.authorized(headers)
        assert not api.authorized({b"authorization": b"Bearer wrong", b"x-api-key": b"wrong"})
    assert vendors.api_of("/_sandbox/reset") is None


def test_a_per_api_rate_limit_overrides_the_shared_one() -> None:
    faults = Faults()
    faults.configure({"rate_limit_per_10s": 1,
                      "rate_limits": {"outreach": {"limit": 2, "window_s": 3600},
                                      "apollo": {"limit": 0, "window_s": 60}}})
    first, second, third = (faults.check("outreach") for _ in range(3))
    assert first and second and third
    assert (first.refused, second.refused, third.refused) == (False, False, True)
    assert (third.limit, third.window_s, third.remaining) == (2, 3600, 0)
    assert 3590 < third.reset_in <= 3600
    assert faults.check("apollo") is None  # limit 0: unlimited, whatever the shared one says
    assert not faults.check("hubspot").refused and faults.check("hubspot").refused
    with pytest.raises(ValueError, match="window of more than 0"):
        faults.configure({"rate_limits": {"outreach": {"limit": 2}}})


def test_events_and_activity_over_the_control_api(sandbox: SandboxClient) -> None:
    sandbox.reset(now=NOW)
    sandbox.upsert_hubspot("contacts", [{"properties": {"email": "di@acme.test"}}])
    [recorded] = sandbox.sequencer_events([{"sequencer": "salesloft", "email": "di@acme.test",
                                            "kind": "unsubscribe"}])
    assert (recorded["kind"], recorded["sent_id"]) == ("unsubscribe", None)
    assert [a["kind"] for a in sandbox.sequencer_activity()] == ["unsubscribe"]
    [person] = [p for p in sandbox.table("sb_people") if p["sequencer"] == "salesloft"]
    assert person["opted_out"] and person["email"] == "di@acme.test"
    with pytest.raises(RuntimeError, match="400"):
        sandbox.sequencer_events({"sequencer": "salesloft"})  # type: ignore[arg-type]


def test_a_per_api_rate_limit_reaches_hubspot_in_its_own_shape(sandbox: SandboxClient) -> None:
    sandbox.reset(now=NOW)
    sandbox.faults(rate_limits={"hubspot": {"limit": 1, "window_s": 30}})
    try:
        auth = {"Authorization": "Bearer sandbox-token"}
        url = f"{sandbox.url}/crm/v3/objects/contacts"
        assert sandbox.http.get(url, headers=auth).status_code == 200
        limited = sandbox.http.get(url, headers=auth)
        assert limited.status_code == 429 and limited.json()["policyName"] == "TEN_SECONDLY_ROLLING"
        assert 25 <= int(limited.headers["Retry-After"]) <= 31
        salesforce = sandbox.http.get(f"{sandbox.url}/services/data/v59.0/sobjects",
                                      headers={"Authorization": "Bearer sandbox-session"})
        assert salesforce.status_code == 200  # the other APIs keep their own budget
    finally:
        sandbox.faults()
