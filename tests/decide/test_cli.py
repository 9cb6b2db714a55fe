"""`seqguard enroll / unenroll / recover` end to end: the CLI, the decision, the outbox,
the real poster and the sandbox's HubSpot Sequences over HTTPS."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from flows.cli import main
from sandbox.client import SandboxClient
from tasks.core.config import sandbox_config
from tasks.post.reads import read_enrollments
from tasks.rules.evaluate import evaluate_rules
from tasks.sync.hubspot.sync import sync_hubspot
from tests.decide.conftest import World

NOW = datetime(2026, 3, 2, 9, 0)
SEQUENCES = [
    {"id": "101", "name": "Enterprise outbound",
     "steps": [{"after_minutes": 60}, {"after_minutes": 1440}]},
    {"id": "102", "name": "Webinar follow-up", "steps": [{"after_minutes": 30}]},
]


def run(capsys: pytest.CaptureFixture, world: World, sandbox: SandboxClient,
        project: Path, *argv: str, now: datetime = NOW) -> tuple[int, str, str]:
    """The command as `seqguard` runs it: parse, handle, one error line and an exit code."""
    world.release()
    code = main([*argv, "--db", str(world.path), "--project", str(project),
                 "--sandbox", sandbox.url, "--sandbox-cert", str(sandbox.cert),
                 "--now", now.isoformat(), "--actor", "ana"])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def crm(sandbox: SandboxClient, world: World, project: Path) -> World:
    """Three HubSpot contacts (one opted out only in HubSpot, so the model is stale),
    their crm.people rows, the sequences read back, and one rules evaluation."""
    sandbox.reset(now=NOW)
    sandbox.define_sequences(SEQUENCES)
    created = sandbox.upsert_hubspot("contacts", [
        {"properties": {"email": "ann@acme.test"}},
        {"properties": {"email": "bob@acme.test"}},
        {"properties": {"email": "opt@beta.test", "hs_email_optout": "true"}}])
    ids = {r["properties"]["email"]: r["id"] for r in created}
    world.people(*({"email": e, "hubspot_id": i} for e, i in ids.items()))
    world.release()
    evaluate_rules(world.path, project, "run-1", NOW, timedelta(minutes=30))
    read_hubspot(world.path, sandbox, NOW)
    return world


def read_hubspot(db: Path, sandbox: SandboxClient, now: datetime) -> None:
    """The cycle's read: sync the contacts (their sequence properties), read enrollments."""
    config = sandbox_config(sandbox.url, sandbox.cert)
    sync_hubspot(db, config, now, objects=("contacts",))
    read_enrollments(db, config, now)


def sandbox_states(sandbox: SandboxClient) -> dict[tuple[str, str], str]:
    return {(e["email"], e["sequence_id"]): e["state"] for e in sandbox.enrollments()}


def test_enroll_then_unenroll_by_hand(capsys: pytest.CaptureFixture, crm: World,
                                      sandbox: SandboxClient, project: Path) -> None:
    code, out, err = run(capsys, crm, sandbox, project, "enroll", "ann@acme.test",
                         "--sequence", "Enterprise outbound")
    assert (code, err) == (0, "")
    assert out.strip() == "enroll ann@acme.test 101: sent"
    assert sandbox_states(sandbox) == {("ann@acme.test", "101"): "active"}

    read_hubspot(crm.path, sandbox, NOW)
    code, out, err = run(capsys, crm, sandbox, project, "unenroll", "ann@acme.test",
                         "--json", now=NOW + timedelta(minutes=5))
    assert code == 0, err
    changes = json.loads(out)["changes"]
    assert [(c["kind"], c["email"], c["status"]) for c in changes] == [
        ("unenroll", "ann@acme.test", "sent")]
    # written onto the contact; HubSpot's workflow unenrolls a few minutes later
    assert sandbox_states(sandbox) == {("ann@acme.test", "101"): "active"}
    sandbox.set_clock(NOW + timedelta(minutes=5))
    assert sandbox_states(sandbox) == {("ann@acme.test", "101"): "unenrolled"}
    assert crm.sql("select actor, to_state from ops.enrollment_events where actor <> "
                   "'sequencer' order by happened_at") == [
        ("user:ana", "active"), ("user:ana", "unenrolled")]


def test_blocked_enroll_names_the_rule_and_exits_non_zero(
        capsys: pytest.CaptureFixture, crm: World, sandbox: SandboxClient,
        project: Path) -> None:
    crm.match("run-1", "replied", "bob@acme.test", reason="replied 2026-03-01")
    code, out, err = run(capsys, crm, sandbox, project, "enroll", "bob@acme.test",
                         "--sequence", "101")
    assert code == 1 and out == ""
    assert err.startswith("seqguard enroll: bob@acme.test cannot be enrolled in '101': "
                          "excluded by replied (global: replied 2026-03-01)")
    assert sandbox.enrollments() == []


def test_sequencer_refusal_is_recorded_and_exits_non_zero(
        capsys: pytest.CaptureFixture, crm: World, sandbox: SandboxClient,
        project: Path) -> None:
    code, _, err = run(capsys, crm, sandbox, project, "enroll", "opt@beta.test",
                       "--sequence", "101")
    assert code == 1
    assert "the sequencer refused to enroll opt@beta.test in 101: CONTACT_UNSUBSCRIBED" in err
    assert crm.sql("select status from ops.outbox") == [("rejected",)]


def test_bad_input_is_one_line_and_non_zero(capsys: pytest.CaptureFixture, crm: World,
                                            sandbox: SandboxClient, project: Path,
                                            tmp_path: Path) -> None:
    cases = [
        (["enroll", "nobody@x.test", "--sequence", "101"], "unknown email nobody@x.test"),
        (["enroll", "ann@acme.test", "--sequence", "Nope"], "unknown sequence 'Nope'"),
        (["unenroll"], "give either EMAIL or --csv FILE"),
        (["unenroll", "--csv", "x.csv"], "--csv needs --sequence"),
        (["unenroll", "bob@acme.test"], "bob@acme.test is not enrolled in any sequence"),
        (["recover", "--rule", "replied", "--since", "yesterday"],
         "--since: 'yesterday' is not an ISO 8601 time"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, crm, sandbox, project, *argv)
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1, argv


def test_recover_prints_the_plan(capsys: pytest.CaptureFixture, crm: World,
                                 sandbox: SandboxClient, project: Path) -> None:
    crm.sql("insert into ops.enrollment_events (happened_at, run_id, crm, enrollment_id, "
            "sequence_id, email, from_state, to_state, step, actor, rule) values "
            "(?, 'run-0', 'hubspot', 'x', '101', 'ann@acme.test', 'active', 'unenrolled', null, "
            "'seqguard', 'replied')", [NOW - timedelta(minutes=30)])
    code, out, _ = run(capsys, crm, sandbox, project, "recover", "--rule", "replied",
                       "--since", "2026-03-02T08:00Z")
    assert code == 0
    assert out.splitlines() == [
        "ann@acme.test  Enterprise outbound  removed 2026-03-02 08:30  after step unknown: "
        "re-enroll from step 1 (HubSpot does not report how far they got, and its enrollment "
        "API cannot start mid-sequence, so they receive every step again)",
        "1 of 1 can be re-enrolled now; run again with --apply to do it"]

    # before the rule is fixed: not "0 of 1" alone, but why and what to do
    crm.match("run-1", "replied", "ann@acme.test", reason="replied 2026-03-01")
    code, out, _ = run(capsys, crm, sandbox, project, "recover", "--rule", "replied",
                       "--since", "2026-03-02T08:00Z")
    assert code == 0
    assert out.splitlines() == [
        "ann@acme.test  Enterprise outbound  removed 2026-03-02 08:30  after step unknown: "
        "not yet: replied still matches (replied 2026-03-01)",
        "1 still matched by replied in the latest evaluation (run run-1, cycle time "
        "2026-03-02 09:00): they come back only once replied no longer matches them; fix the "
        "rule or the data it reads, let the new version take effect (propagation_delay) and "
        "a cycle run, then run recover again",
        "none of 1 can be re-enrolled now (why above)"]


def test_a_contact_without_owner_needs_a_sender_and_the_error_says_how(
        capsys: pytest.CaptureFixture, crm: World, sandbox: SandboxClient,
        project: Path) -> None:
    crm.sql("update crm.people set owner_email = null")
    enroll = ["enroll", "ann@acme.test", "--sequence", "101"]
    code, out, err = run(capsys, crm, sandbox, project, *enroll)
    assert (code, out) == (1, "")
    assert err.strip() == (
        "seqguard enroll: ann@acme.test has no owner in the CRM to send from, and HubSpot "
        "enrolls only on behalf of a user's connected inbox; pass --sender ADDR, or set "
        "default_sender in seqguard.yml")
    code, out, err = run(capsys, crm, sandbox, project, *enroll, "--sender", "Rep@Us.test")
    assert (code, err) == (0, "") and out.strip() == "enroll ann@acme.test 101: sent"
    assert crm.sql("select sender from ops.outbox") == [("rep@us.test",)]

    # a configured default sender serves a recovery of someone without an owner
    (project / "seqguard.yml").write_text("default_sender: team@us.test\n")
    crm.sql("insert into ops.enrollment_events (happened_at, run_id, crm, enrollment_id, "
            "sequence_id, email, from_state, to_state, step, actor, rule) values "
            "(?, 'run-0', 'hubspot', 'x', '102', 'bob@acme.test', 'active', 'unenrolled', null, "
            "'seqguard', 'replied')", [NOW - timedelta(minutes=30)])
    recover = ["recover", "--rule", "replied", "--since", "2026-03-02T08:00Z", "--json"]
    code, out, _ = run(capsys, crm, sandbox, project, *recover)
    assert code == 0
    assert [(r["status"], r["sender"]) for r in json.loads(out)["rows"]] == [
        ("ready", "team@us.test")]
    (project / "seqguard.yml").write_text("timezone: UTC\n")
    code, out, _ = run(capsys, crm, sandbox, project, *recover)
    plan = json.loads(out)
    assert [r["status"] for r in plan["rows"]] == ["no_sender"]
    assert "pass --sender ADDR, or set default_sender in seqguard.yml" in plan["messages"][0]


def test_unenroll_sees_what_seqguard_just_enrolled_before_any_read(
        capsys: pytest.CaptureFixture, crm: World, sandbox: SandboxClient, project: Path,
        tmp_path: Path) -> None:
    for email in ("ann@acme.test", "bob@acme.test"):
        code, _, err = run(capsys, crm, sandbox, project, "enroll", email,
                           "--sequence", "Enterprise outbound")
        assert code == 0, err
    later = NOW + timedelta(minutes=10)  # no cycle since: ops.enrollments knows neither
    assert crm.sql("select count(*) from ops.enrollments") == [(0,)]
    code, out, err = run(capsys, crm, sandbox, project, "unenroll", "ann@acme.test", now=later)
    assert (code, err) == (0, "")
    assert out.strip() == "unenroll ann@acme.test 101: sent"
    listed = tmp_path / "people.csv"
    listed.write_text("email\nbob@acme.test\n")
    code, out, err = run(capsys, crm, sandbox, project, "unenroll", "--csv", str(listed),
                         "--sequence", "101", now=later)
    assert (code, err) == (0, "")
    assert out.strip() == "unenroll bob@acme.test 101: sent"
    sandbox.set_clock(later + timedelta(minutes=5))  # HubSpot's workflow acts
    assert set(sandbox_states(sandbox).values()) == {"unenrolled"}
