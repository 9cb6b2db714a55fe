"""Manual unenroll (one person, all sequences, a CSV of emails and company domains),
recover, and every bad input, on a real database (posting is tested with the sandbox)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tasks.core.user_files import UserFileError
from tasks.decide import decide, manual
from tasks.decide import recover as recover_action
from tasks.decide.manual import ManualActionError
from tests.decide.conftest import CRM, NOW, World

RUN = "run-1"
ANA = "user:ana"


def unenroll(world: World, email: str, sequence: str | None = None, **kw):
    world.release()
    return manual.unenroll(world.path, email, sequence, now=NOW, sequencer=CRM, actor=ANA,
                           post=False, **kw)


def unenroll_csv(world: World, path: Path, sequence: str, **kw):
    world.release()
    return manual.unenroll_csv(world.path, path, sequence, now=NOW, sequencer=CRM, actor=ANA,
                               post=False, **kw)


def recover(world: World, rule: str, **kw):
    world.release()
    return recover_action.recover(world.path, rule, NOW - timedelta(hours=1),
                                  now=NOW + timedelta(hours=1), sequencer=CRM, actor=ANA,
                                  post=False, **kw)


@pytest.fixture
def base(world: World) -> World:
    world.sequences(("s1", "Enterprise outbound"), ("s2", "Webinar follow-up"))
    world.company("acme.test", "acme-corp.test")
    world.company("beta.test")
    world.people({"email": "ann@acme.test"}, {"email": "al@acme-corp.test",
                                              "company_domain": "acme.test"},
                 {"email": "bob@beta.test"}, {"email": "cy@gamma.test"})
    world.evaluated(RUN)
    return world


def test_unenroll_one_person_from_every_sequence(base: World) -> None:
    base.enrollment("e1", "ann@acme.test", "s1")
    base.enrollment("e2", "ann@acme.test", "s2", state="paused")
    base.enrollment("e3", "bob@beta.test", "s1")

    result = unenroll(base, "Ann@Acme.test ")

    assert base.outbox("kind", "email", "sequence_id", "actor", "rule") == [
        ("unenroll", "ann@acme.test", "s1", ANA, None),
        ("unenroll", "ann@acme.test", "s2", ANA, None)]
    assert [c["status"] for c in result.changes] == ["pending", "pending"]
    assert base.sql("select to_state, actor, reason from ops.enrollment_events "
                    "order by sequence_id") == [
        ("unenrolled", ANA, "manual unenroll by ana")] * 2
    assert {d[0] for d in base.decisions()} == {"unenroll"}


def test_unenroll_from_one_sequence_by_name(base: World) -> None:
    base.enrollment("e1", "ann@acme.test", "s1")
    base.enrollment("e2", "ann@acme.test", "s2", state="paused")
    unenroll(base, "ann@acme.test", "Webinar follow-up")
    assert base.outbox() == [("unenroll", "ann@acme.test", "s2")]


def test_unenroll_cancels_an_enrollment_not_yet_posted(base: World) -> None:
    base.release()
    manual.enroll(base.path, "cy@gamma.test", "s2", now=NOW - timedelta(minutes=1), sequencer=CRM,
                  actor=ANA, post=False)
    result = unenroll(base, "cy@gamma.test")
    assert base.outbox("kind", "status") == [("enroll", "rejected")]
    assert "1 enrollment(s) not yet posted were cancelled" in result.messages


def test_repeating_an_unenroll_adds_nothing(base: World) -> None:
    base.enrollment("e1", "ann@acme.test", "s1")
    unenroll(base, "ann@acme.test")
    again = unenroll(base, "ann@acme.test")
    assert len(base.outbox()) == 1
    assert "already on their way" in again.messages[0]


def test_unknown_email_and_sequence_are_refused(base: World) -> None:
    with pytest.raises(ManualActionError, match="unknown email nobody@x.test"):
        unenroll(base, "nobody@x.test")
    with pytest.raises(ManualActionError, match="unknown sequence 'Nope' at the hubspot "
                       "sequencer; use an id or name it has: Enterprise outbound \\(s1\\)"):
        unenroll(base, "ann@acme.test", "Nope")
    with pytest.raises(ManualActionError, match="unknown email nobody@x.test: not in the CRMs"):
        base.release()
        manual.enroll(base.path, "nobody@x.test", "s1", now=NOW, sequencer=CRM, actor=ANA,
                      post=False)
    with pytest.raises(ManualActionError, match="ann@acme.test is not enrolled in any sequence"):
        unenroll(base, "ann@acme.test")
    assert base.outbox() == []


def test_csv_of_two_domains_unenrolls_everyone_at_both_with_aliases(base: World,
                                                                    tmp_path: Path) -> None:
    base.people({"email": "zed@acme-corp.test"})  # company_domain left as its own alias
    for i, email in enumerate(["ann@acme.test", "al@acme-corp.test", "zed@acme-corp.test",
                               "bob@beta.test", "cy@gamma.test"]):
        base.enrollment(f"e{i}", email, "s1")
    base.enrollment("e9", "bob@beta.test", "s2", state="paused")  # another sequence: stays
    csv = tmp_path / "dnc.csv"
    csv.write_text("company_domain,reason\nhttps://www.Acme.test/about,legal\nbeta.test,\n")

    unenroll_csv(base, csv, "Enterprise outbound")

    assert base.outbox("email", "sequence_id") == [
        ("al@acme-corp.test", "s1"), ("ann@acme.test", "s1"), ("bob@beta.test", "s1"),
        ("zed@acme-corp.test", "s1")]
    assert base.sql("select distinct actor, reason from ops.outbox") == [
        (ANA, "manual unenroll by ana (list dnc.csv)")]


def test_csv_of_emails_and_domains(base: World, tmp_path: Path) -> None:
    base.enrollment("e1", "cy@gamma.test", "s1")
    base.enrollment("e2", "bob@beta.test", "s1")
    csv = tmp_path / "list.csv"
    csv.write_text("Email,Domain\nCY@gamma.test,\n,beta.test\n")
    unenroll_csv(base, csv, "s1")
    assert base.outbox("email") == [("bob@beta.test",), ("cy@gamma.test",)]


def test_csv_without_a_usable_column_is_refused(base: World, tmp_path: Path) -> None:
    csv = tmp_path / "names.csv"
    csv.write_text("name,company\nAnn,Acme\n")
    with pytest.raises(ManualActionError, match=r"names.csv: no usable column among its 2; "
                       r"the header needs email and/or company_domain") as refused:
        unenroll_csv(base, csv, "s1")
    assert "Acme" not in str(refused.value) and "company)" not in str(refused.value)


def test_an_unreadable_csv_is_named_without_its_content(base: World, tmp_path: Path) -> None:
    csv = tmp_path / "names.csv"
    csv.write_bytes(b"email\nann@acme.test\n\xffsecret-token-1234\n")
    with pytest.raises(UserFileError, match=r"names.csv:3: is not UTF-8 text \(byte offset "
                       r"20\)") as refused:
        unenroll_csv(base, csv, "s1")
    assert "secret-token-1234" not in str(refused.value)


def test_csv_bad_rows_are_named_and_block_unless_skipped(base: World, tmp_path: Path) -> None:
    base.enrollment("e1", "ann@acme.test", "s1")
    base.enrollment("e2", "bob@beta.test", "s1")
    csv = tmp_path / "list.csv"
    csv.write_text("email,company_domain\nann@acme.test,\nnot-an-email,\n\n"
                   "ghost@nowhere.test,\n,\n,beta.test\nx@y.test,extra,field\n")
    with pytest.raises(ManualActionError) as err:
        unenroll_csv(base, csv, "s1")
    message = str(err.value)
    assert "4 bad row(s)" in message and "--skip-bad-rows" in message
    for expected in ("line 8: has 3 fields", "line 3: its email is not an email address",
                     "line 5: unknown email ghost@nowhere.test",
                     "line 6: has neither an email nor a company_domain"):
        assert expected in message
    assert base.outbox() == []

    result = unenroll_csv(base, csv, "s1", skip_bad_rows=True)

    assert base.outbox("email") == [("ann@acme.test",), ("bob@beta.test",)]
    assert result.messages[0].startswith(f"{csv}: skipped 4 bad row(s)")


def test_csv_missing_file_and_nobody_enrolled(base: World, tmp_path: Path) -> None:
    with pytest.raises(ManualActionError, match="no such file"):
        unenroll_csv(base, tmp_path / "missing.csv", "s1")
    csv = tmp_path / "list.csv"
    csv.write_text("email\ncy@gamma.test\n")
    with pytest.raises(ManualActionError, match="nobody it names is enrolled in 's1'"):
        unenroll_csv(base, csv, "s1")


def rule_removes(world: World, run_id: str, rule: str, *emails: str) -> None:
    """A cycle in which `rule` (global) matches `emails` and the decision unenrolls them."""
    world.global_rule(run_id, rule, sequences=("Enterprise outbound", "Webinar follow-up"))
    world.match(run_id, rule, *emails)
    world.release()
    decide.decide(world.path, Path("/nonexistent"), run_id, NOW, sequencer=CRM)


def test_recover_plans_and_restores_the_step_after_the_last_completed(base: World) -> None:
    base.enrollment("e1", "ann@acme.test", "s1", step=2)
    base.enrollment("e2", "bob@beta.test", "s2", step=1)
    base.enrollment("e3", "cy@gamma.test", "s1", step=3)
    rule_removes(base, RUN, "bad_rule", "ann@acme.test", "bob@beta.test", "cy@gamma.test")
    # the sequencer confirms the removals; ann had completed a third step meanwhile
    base.enrollment("e1", "ann@acme.test", "s1", state="unenrolled", step=3)
    base.enrollment("e2", "bob@beta.test", "s2", state="unenrolled", step=1)
    base.enrollment("e3", "cy@gamma.test", "s1", state="unenrolled", step=3)
    # the rule is fixed: the next run matches only cy, and another rule blocks bob
    base.evaluated("run-2", NOW + timedelta(minutes=45))
    base.global_rule("run-2", "bad_rule", sequences=("Enterprise outbound", "Webinar follow-up"))
    base.match("run-2", "bad_rule", "cy@gamma.test")
    base.global_rule("run-2", "meeting_booked",
                     sequences=("Enterprise outbound", "Webinar follow-up"))
    base.match("run-2", "meeting_booked", "bob@beta.test")

    plan = recover(base, "bad_rule")

    assert [(r["email"], r["sequence_id"], r["start_step"], r["status"]) for r in plan.rows] == [
        ("ann@acme.test", "s1", 4, "ready"), ("bob@beta.test", "s2", 2, "blocked"),
        ("cy@gamma.test", "s1", 4, "still_matches")]
    assert plan.rows[1]["blocked_by"] == "meeting_booked (global)"
    assert not plan.applied and len(base.outbox()) == 3  # the plan wrote nothing

    applied = recover(base, "bad_rule", apply=True)

    assert applied.applied
    assert base.sql("select email, sequence_id, start_step, rule, actor from ops.outbox "
                    "where kind = 'enroll'") == [("ann@acme.test", "s1", 4, "bad_rule", ANA)]
    assert base.sql("select step from ops.enrollment_events where to_state = 'active'") == [(3,)]
    # recovered once: a second apply finds her on her way back
    again = recover(base, "bad_rule", apply=True)
    assert again.rows[0]["status"] == "already_enrolled"
    assert len(base.sql("select * from ops.outbox where kind = 'enroll'")) == 1


def test_recover_ignores_manual_unenrolls_and_other_rules(base: World) -> None:
    base.enrollment("e1", "ann@acme.test", "s1")
    base.enrollment("e2", "bob@beta.test", "s1")
    rule_removes(base, RUN, "other_rule", "bob@beta.test")
    unenroll(base, "ann@acme.test")
    plan = recover(base, "bad_rule")
    assert plan.rows == [] and "no removal by rule 'bad_rule' ever" in plan.messages[0]
