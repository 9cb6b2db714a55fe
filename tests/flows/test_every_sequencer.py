"""seqguard's cycle (the steps without Prefect, as the soak runs them) against the sandbox
with each of the five sequencers: a person enrolled
through seqguard replies, and the built-in `replied` rule ends their sequence and blocks
the next one. With HubSpot or Salesforce as the sequencer the reply comes with the CRM
sync and seqguard unenrolls; Outreach, Salesloft and Apollo see the reply themselves
(their own activity, read back into crm.engagements) and finish the sequence, and
seqguard's people and activity wiring carries it to the rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from flows.cycle import run_cycle
from sandbox.client import SandboxClient
from tasks.core.config import Credential, load_config, sandbox_config
from tasks.db.store import connect
from tasks.decide import manual
from tasks.decide.manual import EnrollmentBlocked
from tasks.post.sequencers.apollo import ApolloSequencer

T0 = datetime(2026, 3, 2, 9, 0)
EMAIL = "ann@acme-buyer.test"
SEQUENCES = [
    {"id": "9001", "name": "Enterprise outbound", "steps": [{"after_minutes": 60}] * 3},
    {"id": "9002", "name": "Webinar follow-up", "steps": [{"after_minutes": 60}]},
]
OWN_PEOPLE = ("outreach", "salesloft", "apollo")


def ann_in_both_crms(sandbox: SandboxClient) -> None:
    """Ann in HubSpot (owned by a seeded owner, who is a user at every sequencer) and in
    Salesforce, so every sequencer can reach her."""
    owner = sandbox.table("hs_owners")[0]
    sandbox.upsert_hubspot("contacts", [{"properties": {
        "email": EMAIL, "firstname": "Ann", "hubspot_owner_id": str(owner["id"])}}])
    sandbox.upsert_salesforce("Contact", [{"LastName": "Ann", "Email": EMAIL}])


def reply(sandbox: SandboxClient, sequencer: str, at: datetime) -> None:
    """Ann answers the first email: seen by the sequencer itself, or logged in the CRM."""
    if sequencer in OWN_PEOPLE:
        sandbox.sequencer_events([{"sequencer": sequencer, "email": EMAIL, "kind": "reply",
                                   "at": at.isoformat()}])
        return
    sandbox.upsert_hubspot("emails", [{"properties": {
        "hs_email_direction": "INCOMING_EMAIL", "hs_email_from_email": EMAIL,
        "hs_email_to_email": "rep@seqguard-sandbox.test", "hs_email_subject": "Re: hello",
        "hs_timestamp": at.isoformat() + "Z"}}])


@pytest.mark.parametrize("sequencer", ["hubspot", "salesforce", *OWN_PEOPLE])
def test_a_reply_ends_the_sequence_and_blocks_the_next_on_every_sequencer(
        sandbox: SandboxClient, tmp_path: Path, sequencer: str) -> None:
    (tmp_path / "seqguard.yml").write_text(f"sequencer: {sequencer}\n")
    db = str(tmp_path / "db.duckdb")
    sandbox.reset(seed=5, contacts=20, now=T0)
    sandbox.define_sequences(SEQUENCES)
    ann_in_both_crms(sandbox)

    def run(at: datetime) -> dict:
        sandbox.set_clock(at)
        return run_cycle(db, str(tmp_path), sandbox.url, str(sandbox.cert), now=at)

    run(T0)
    config = sandbox_config(sandbox.url, sandbox.cert, load_config(tmp_path))
    manual.enroll(db, EMAIL, "Enterprise outbound", now=T0, sequencer=sequencer,
                  actor="user:ana", config=config)
    sandbox.set_clock(T0 + timedelta(minutes=65))             # step 1 goes out at +60
    reply(sandbox, sequencer, T0 + timedelta(minutes=70))
    summary = run(T0 + timedelta(minutes=75))

    with connect(db) as con:
        seen = con.execute("select crm from crm.engagements where email = ? and "
                           "direction = 'inbound'", [EMAIL]).fetchall()
        replied = con.execute("select count(*) from rules.matches where run_id = ? and "
                              "rule = 'replied' and email = ?",
                              [summary["run_id"], EMAIL]).fetchall()[0][0]
    assert seen == [(sequencer if sequencer in OWN_PEOPLE else "hubspot",)]
    assert replied == 1
    assert summary["decide"]["unenroll"] == (0 if sequencer in OWN_PEOPLE else 1)
    sandbox.set_clock(T0 + timedelta(minutes=90))             # HubSpot's workflow acts
    ann = [e for e in sandbox.enrollments() if e["email"] == EMAIL]
    assert [e["state"] for e in ann] in (["unenrolled"], ["finished"])
    with pytest.raises(EnrollmentBlocked, match="replied"):
        manual.enroll(db, EMAIL, "Webinar follow-up", now=T0 + timedelta(minutes=90),
                      sequencer=sequencer, actor="user:ana", config=config)
    sandbox.set_clock(T0 + timedelta(hours=5))
    assert [s["step"] for s in sandbox.sent() if s["email"] == EMAIL] == [1]


def test_a_sequencer_key_comes_from_a_prefect_secret_block(
        prefect_harness, sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sequencers.apollo.secret_block` names a Prefect Secret; the key is read from it
    when no environment variable is set, and used for the adapter's calls."""
    from prefect.blocks.system import Secret

    Secret(value="sandbox-apollo").save("seqguard-apollo-key", overwrite=True)
    monkeypatch.delenv("SEQGUARD_APOLLO_API_KEY", raising=False)
    sandbox.reset(now=T0)
    sandbox.define_sequences(SEQUENCES)
    settings = sandbox_config(sandbox.url, sandbox.cert).sequencer_config("apollo")
    config = replace(settings, token=Credential(env="SEQGUARD_APOLLO_API_KEY",
                                                secret_block="seqguard-apollo-key"))
    names = ApolloSequencer(config).sequences().column("name").to_pylist()
    assert sorted(names) == ["Enterprise outbound", "Webinar follow-up"]
