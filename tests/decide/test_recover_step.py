"""`recover --apply` restores the step: a person a rule wrongly removed after step 2 comes
back at step 3 on Salesforce (its assign action takes a starting step), and at step 1 on
HubSpot (it reports no step and its enroll API takes none), with the plan saying why. Real
DuckDB, the real decision and poster, the sandbox over HTTPS, its clock moved to send
steps and to let HubSpot's unenroll workflow act."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sandbox.client import SandboxClient
from tasks.core.config import Config, sandbox_config
from tasks.decide import decide, manual, recover
from tasks.post.poster import post_pending
from tasks.post.reads import read_enrollments
from tasks.sync.hubspot.sync import sync_hubspot
from tests.decide.conftest import World
from tests.decide.test_cli import run

NOW = datetime(2026, 3, 2, 9, 0)
REMOVED_AT = NOW + timedelta(minutes=125)   # steps 1 and 2 went out at +60 and +120
FIXED_AT = REMOVED_AT + timedelta(minutes=45)
STEP = timedelta(minutes=60)
SEQUENCE = {"id": "201", "name": "Enterprise outbound",
            "steps": [{"after_minutes": 60}] * 4}
EMAIL = "ann@acme.test"
RULE = "bad_rule"
ANA = "user:ana"
OWNER = "owner@us.test"  # World.people's default owner

RESTART_NOTE = ("HubSpot does not report how far they got, and its enrollment API cannot "
                "start mid-sequence, so they receive every step again")


def person_in_crm(sandbox: SandboxClient, world: World, crm: str) -> None:
    """Ann in the sandbox's CRM and in crm.people with that CRM's id (a sequencer of its
    own: in HubSpot, which the sequencer's people mirror by email)."""
    if crm not in ("hubspot", "salesforce"):  # her owner, a user (mailbox) there too
        sandbox.upsert_salesforce("User", [{"Username": "owner@us.test.sf", "LastName": "Owner",
                                            "Email": OWNER, "IsActive": True}])
    if crm != "salesforce":
        created = sandbox.upsert_hubspot("contacts", [{"properties": {"email": EMAIL}}])
        world.people({"email": EMAIL, "hubspot_id": created[0]["id"]})
    else:
        created = sandbox.upsert_salesforce("Contact", [{"LastName": "Ann", "Email": EMAIL}])
        world.people({"email": EMAIL, "hubspot_id": None,
                      "salesforce_contact_id": created[0]["id"]})


def read_state(world: World, config: Config, now: datetime) -> None:
    """The cycle's read of the sequencer; on HubSpot after the sync of the contacts (their
    sequence properties say who is still in a sequence)."""
    world.release()
    if config.sequencer == "hubspot":
        sync_hubspot(world.path, config, now, objects=("contacts",))
    read_enrollments(world.path, config, now)


def removed_after_step_two(sandbox: SandboxClient, world: World, config: Config) -> None:
    """Ann enrolled by hand, two steps sent, then removed by RULE (which matched her
    wrongly) in a cycle at REMOVED_AT; the sequencer's state read back after each step."""
    crm = config.sequencer
    sandbox.reset(now=NOW)
    sandbox.define_sequences([SEQUENCE])
    person_in_crm(sandbox, world, crm)
    world.evaluated("run-0", NOW)
    read_state(world, config, NOW)
    manual.enroll(world.path, EMAIL, SEQUENCE["name"], now=NOW, sequencer=crm, actor=ANA,
                  config=config)

    sandbox.set_clock(REMOVED_AT)
    read_state(world, config, REMOVED_AT)
    world.evaluated("run-1", REMOVED_AT)
    world.global_rule("run-1", RULE, sequences=(SEQUENCE["name"],))
    world.match("run-1", RULE, EMAIL)
    world.release()
    decide.decide(world.path, Path("/nonexistent"), "run-1", REMOVED_AT, sequencer=crm)
    post_pending(world.path, config, REMOVED_AT)
    sandbox.set_clock(REMOVED_AT + timedelta(minutes=5))  # HubSpot's workflow acts later
    read_state(world, config, REMOVED_AT + timedelta(minutes=5))
    assert [(e["state"], e["step"]) for e in sandbox.enrollments()] in (
        [("unenrolled", 2)], [("finished", 2)])  # Outreach's documented removal: finish

    # the rule is fixed: the next cycle's run no longer matches her
    sandbox.set_clock(FIXED_AT)
    world.evaluated("run-2", FIXED_AT)
    world.global_rule("run-2", RULE, sequences=(SEQUENCE["name"],))
    world.release()


def steps_sent(sandbox: SandboxClient) -> list[tuple[int, list[int]]]:
    """Per enrollment (in the order they were made), the steps the sequencer sent."""
    sent: dict[int, list[int]] = {}
    for row in sandbox.sent():
        sent.setdefault(int(row["enrollment_id"]), []).append(row["step"])
    return sorted(sent.items())


def test_salesforce_recover_resumes_at_the_step_after_the_last_completed(
        sandbox: SandboxClient, world: World) -> None:
    config = replace(sandbox_config(sandbox.url, sandbox.cert), sequencer="salesforce")
    removed_after_step_two(sandbox, world, config)

    plan = recover.recover(world.path, RULE, NOW, now=FIXED_AT, sequencer="salesforce",
                           actor=ANA, config=config, apply=True)

    assert plan.applied
    assert [(r["status"], r["completed"], r["start_step"], r["starts_at_step"], r["note"])
            for r in plan.rows] == [("ready", 2, 3, 3, None)]
    assert world.sql("select start_step, status from ops.outbox where kind = 'enroll' "
                     "order by created_at") == [(None, "confirmed"), (3, "sent")]
    back = [e for e in sandbox.enrollments() if e["state"] == "active"]
    assert [(e["step"], e["sequence_id"]) for e in back] == [(2, "201")]

    # the next send is step 3, one step-delay after the re-enrollment; not step 1 again
    sandbox.set_clock(FIXED_AT + STEP)
    assert [steps for _, steps in steps_sent(sandbox)] == [[1, 2], [3]]


def test_hubspot_recover_restarts_at_step_one_and_the_plan_says_why(
        capsys: pytest.CaptureFixture, sandbox: SandboxClient, world: World,
        tmp_path: Path) -> None:
    config = sandbox_config(sandbox.url, sandbox.cert)
    removed_after_step_two(sandbox, world, config)
    project = tmp_path / "project"
    (project / "sql" / "exclusions").mkdir(parents=True)
    since = ["recover", "--rule", RULE, "--since", NOW.isoformat()]

    code, out, err = run(capsys, world, sandbox, project, *since, now=FIXED_AT)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == (
        f"{EMAIL}  Enterprise outbound  removed 2026-03-02 11:05  after step unknown: "
        f"re-enroll from step 1 ({RESTART_NOTE})")

    code, out, err = run(capsys, world, sandbox, project, *since, "--apply", "--json",
                         now=FIXED_AT)
    assert (code, err) == (0, "")
    plan = json.loads(out)
    assert plan["applied"]
    assert [(r["completed"], r["starts_at_step"], r["note"]) for r in plan["rows"]] == [
        (None, 1, RESTART_NOTE)]
    response, start_step = world.sql(
        "select response, start_step from ops.outbox where kind = 'enroll' and start_step "
        "is not null")[0]
    assert start_step == 1 and "seqguard_note" not in json.loads(response)
    back = [e for e in sandbox.enrollments() if e["state"] == "active"]
    assert [e["step"] for e in back] == [0]

    sandbox.set_clock(FIXED_AT + STEP)
    assert [steps for _, steps in steps_sent(sandbox)] == [[1, 2], [1]]


@pytest.mark.parametrize("crm, resumes_at", [("salesloft", 3), ("outreach", 1), ("apollo", 1)])
def test_recover_on_a_sequencer_of_its_own_starts_where_its_api_can(
        sandbox: SandboxClient, world: World, crm: str, resumes_at: int) -> None:
    """Salesloft takes a starting step (step_id); Outreach and Apollo start at 1 and the
    plan says why, instead of promising step 3."""
    config = replace(sandbox_config(sandbox.url, sandbox.cert), sequencer=crm)
    removed_after_step_two(sandbox, world, config)

    plan = recover.recover(world.path, RULE, NOW, now=FIXED_AT, sequencer=crm, actor=ANA,
                           config=config, apply=True)

    assert plan.applied, [(r.get("status"), r.get("reason"), r.get("blocked")) for r in plan.rows]
    assert [(r["starts_at_step"], bool(r["note"])) for r in plan.rows] == [
        (resumes_at, resumes_at == 1)]
    sandbox.set_clock(FIXED_AT + STEP)
    assert [steps for _, steps in steps_sent(sandbox)] == [[1, 2], [resumes_at]]
