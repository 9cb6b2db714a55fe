"""The decision semantics of DESIGN, on a real database: who is unenrolled, blocked,
skipped, refused or enrolled, and what lands in ops.decisions / outbox / events."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tasks.decide import decide as decide_stage
from tasks.decide import manual
from tasks.decide.manual import EnrollmentBlocked
from tests.decide.conftest import CRM, NOW, World, queue_item, write_play

RUN = "run-1"


def decide(world: World, project: Path, run_id: str = RUN, now=NOW, dry_run: bool = False):
    world.release()
    return decide_stage.decide(world.path, project, run_id, now, sequencer=CRM,
                               dry_run=dry_run)


def manual_enroll(world: World, email: str, sequence: str, **kw):
    world.release()
    return manual.enroll(world.path, email, sequence, now=NOW, sequencer=CRM, actor="user:ana",
                         post=False, **kw)


@pytest.fixture
def base(world: World) -> World:
    world.sequences(("s1", "Enterprise outbound"), ("s2", "Webinar follow-up"))
    world.people({"email": "ann@acme.test"}, {"email": "bob@acme.test"},
                 {"email": "cy@beta.test"})
    world.evaluated(RUN)
    return world


def test_global_rule_unenrolls_the_enrolled_and_records_why(base: World, project: Path) -> None:
    base.enrollment("e1", "ann@acme.test", "s1")
    base.enrollment("e2", "cy@beta.test", "s1")
    base.global_rule(RUN, "open_opportunity", sequences=("Enterprise outbound",))
    base.match(RUN, "open_opportunity", "ann@acme.test", reason="open deal: Big")

    result = decide(base, project)

    assert result.unenroll == 1 and result.new_changes == 1
    assert base.outbox("kind", "email", "sequence_id", "rule", "actor", "status") == [
        ("unenroll", "ann@acme.test", "s1", "open_opportunity", "seqguard", "pending")]
    assert base.decisions() == [
        ("unenroll", "ann@acme.test", "s1", "open_opportunity", "global")]
    assert base.sql("select email, from_state, to_state, step, actor, rule, rule_version, "
                    "run_id from ops.enrollment_events") == [
        ("ann@acme.test", "active", "unenrolled", 1, "seqguard", "open_opportunity",
         "open_opportunity-v1", RUN)]


def test_rerunning_a_decision_writes_no_second_row(base: World, project: Path) -> None:
    base.enrollment("e1", "ann@acme.test", "s1")
    base.global_rule(RUN, "replied")
    base.match(RUN, "replied", "ann@acme.test")

    decide(base, project)
    again = decide(base, project)

    assert again.new_changes == 0 and again.warnings
    assert len(base.outbox()) == 1 and len(base.decisions()) == 1
    assert base.sql("select count(*) from ops.enrollment_events") == [(1,)]


def test_next_run_does_not_repeat_an_unenroll_on_its_way(base: World, project: Path) -> None:
    base.enrollment("e1", "ann@acme.test", "s1")
    for run in (RUN, "run-2"):
        base.evaluated(run) if run != RUN else None
        base.global_rule(run, "replied")
        base.match(run, "replied", "ann@acme.test")
        decide(base, project, run_id=run)
    assert len(base.outbox()) == 1


def test_a_person_enrolled_again_while_the_unenroll_is_on_its_way_is_removed_again(
        base: World, project: Path) -> None:
    """The unenroll in flight targets the old enrollment; the rep's new one in the same
    sequence is a new enrollment, and the still-matching rule removes it too (the soak
    found it kept sending while the old row waited forever for its confirmation)."""
    base.enrollment("e1", "ann@acme.test", "s1")
    base.global_rule(RUN, "replied")
    base.match(RUN, "replied", "ann@acme.test")
    decide(base, project)
    base.sql("update ops.outbox set status = 'sent'")
    base.enrollment("e1", "ann@acme.test", "s1", state="unenrolled")
    base.enrollment("e2", "ann@acme.test", "s1")
    base.evaluated("run-2")
    base.global_rule("run-2", "replied")
    base.match("run-2", "replied", "ann@acme.test")
    decide(base, project, run_id="run-2")
    assert base.outbox("kind", "sequence_id", "enrollment_id", "status") == [
        ("unenroll", "s1", "e1", "sent"), ("unenroll", "s1", "e2", "pending")]


def test_pending_rule_versions_are_not_acted_on(base: World, project: Path) -> None:
    base.enrollment("e1", "ann@acme.test", "s1")
    base.global_rule(RUN, "replied")
    base.match(RUN, "replied", "ann@acme.test", pending=True)
    assert decide(base, project).unenroll == 0


def test_dry_run_decides_but_writes_no_change(base: World, project: Path) -> None:
    base.enrollment("e1", "ann@acme.test", "s1")
    base.global_rule(RUN, "replied")
    base.match(RUN, "replied", "ann@acme.test")
    result = decide(base, project, dry_run=True)
    assert result.unenroll == 1 and result.new_changes == 0
    assert base.outbox() == [] and len(base.decisions()) == 1


def test_remove_enrolled_false_blocks_new_but_keeps_enrolled(base: World, project: Path) -> None:
    base.enrollment("e1", "ann@acme.test", "s1")
    base.global_rule(RUN, "lifecycle_customer", removes=False)
    base.match(RUN, "lifecycle_customer", "ann@acme.test", "bob@acme.test")

    assert decide(base, project).unenroll == 0
    with pytest.raises(EnrollmentBlocked, match=r"bob@acme.test cannot be enrolled in "
                       r"'Webinar follow-up': excluded by lifecycle_customer \(global"):
        manual_enroll(base, "bob@acme.test", "Webinar follow-up")
    assert base.outbox() == []
    assert ("block", "bob@acme.test", "s2", "lifecycle_customer", "global") in base.decisions()


def test_a_ruleset_turns_a_rule_on_for_one_sequence_only(base: World, project: Path) -> None:
    # open_opportunity: exclude_from_sequences false, in the ruleset of s1 only
    base.scope(RUN, "open_opportunity", sequence="Enterprise outbound", why=("ruleset",))
    base.scope(RUN, "open_opportunity", sequence="Webinar follow-up", blocks=False,
               removes=False, why=())
    base.scope(RUN, "open_opportunity", sequence=None, blocks=False, removes=False, why=())
    base.enrollment("e1", "ann@acme.test", "s1")
    base.enrollment("e2", "cy@beta.test", "s2")
    base.match(RUN, "open_opportunity", "ann@acme.test", "bob@acme.test", "cy@beta.test")

    result = decide(base, project)

    assert result.unenroll == 1
    assert base.outbox("email", "sequence_id") == [("ann@acme.test", "s1")]
    with pytest.raises(EnrollmentBlocked, match=r"open_opportunity \(ruleset"):
        manual_enroll(base, "bob@acme.test", "Enterprise outbound")
    manual_enroll(base, "bob@acme.test", "Webinar follow-up")
    assert ("enroll", "bob@acme.test", "s2") in base.outbox()


def test_default_ruleset_applies_to_sequences_without_their_own(base: World,
                                                                 project: Path) -> None:
    base.sequences(("s3", "Cold"))
    base.scope(RUN, "bounced", sequence=None, why=("default_ruleset",))
    base.scope(RUN, "bounced", sequence="Enterprise outbound", blocks=False, removes=False,
               why=())
    base.match(RUN, "bounced", "ann@acme.test")
    with pytest.raises(EnrollmentBlocked, match=r"bounced \(default_ruleset"):
        manual_enroll(base, "ann@acme.test", "Cold")
    manual_enroll(base, "ann@acme.test", "Enterprise outbound")


def test_both_sequence_and_global_toggles_must_be_off_to_allow(base: World,
                                                               project: Path) -> None:
    base.match(RUN, "meeting_booked", "ann@acme.test")
    # global toggle on, the play's own exclusions do not list it: still blocked
    base.global_rule(RUN, "meeting_booked", sequences=("Webinar follow-up",))
    write_play(project, "webinar", "Webinar follow-up")
    queue_item(base, "webinar", "ann@acme.test", "s2", NOW)

    result = decide(base, project)

    assert result.skip == 1 and result.enroll == 0
    assert base.sql("select status, rule from ops.play_queue") == [
        ("skipped", "meeting_booked")]
    assert ("skip", "ann@acme.test", "s2", "meeting_booked", "global") in base.decisions()


def test_sequence_toggle_on_wins_over_global_off(base: World, project: Path) -> None:
    base.match(RUN, "meeting_booked", "ann@acme.test", "bob@acme.test")
    base.scope(RUN, "meeting_booked", sequence="Webinar follow-up", why=("ruleset",))
    base.scope(RUN, "meeting_booked", sequence=None, blocks=False, removes=False, why=())
    write_play(project, "webinar", "Webinar follow-up")
    write_play(project, "enterprise", "Enterprise outbound")
    queue_item(base, "webinar", "ann@acme.test", "s2", NOW)
    queue_item(base, "enterprise", "bob@acme.test", "s1", NOW)

    result = decide(base, project)

    assert (result.skip, result.enroll) == (1, 1)
    assert base.outbox("kind", "email", "sequence_id") == [("enroll", "bob@acme.test", "s1")]


def test_play_exclusions_apply_to_that_play_only(base: World, project: Path) -> None:
    base.match(RUN, "recent_manual_email", "ann@acme.test", "bob@acme.test")
    base.scope(RUN, "recent_manual_email", play="webinar", sequence="Webinar follow-up",
               removes=False, why=("play",))
    base.scope(RUN, "recent_manual_email", sequence=None, blocks=False, removes=False, why=())
    write_play(project, "webinar", "Webinar follow-up", exclusions="[recent_manual_email]")
    write_play(project, "enterprise", "Enterprise outbound")
    queue_item(base, "webinar", "ann@acme.test", "s2", NOW)
    queue_item(base, "enterprise", "bob@acme.test", "s1", NOW)

    decide(base, project)

    assert base.sql("select play, status, rule from ops.play_queue order by play") == [
        ("enterprise", "enrolled", None), ("webinar", "skipped", "recent_manual_email")]


def test_one_open_sequence_per_person_counts_paused(base: World, project: Path) -> None:
    base.enrollment("e1", "ann@acme.test", "s1", state="paused")
    with pytest.raises(EnrollmentBlocked, match="already in an open sequence: s1"):
        manual_enroll(base, "ann@acme.test", "Webinar follow-up")
    base.enrollment("e1", "ann@acme.test", "s1", state="finished")
    manual_enroll(base, "ann@acme.test", "Webinar follow-up")


def test_two_plays_release_one_person_and_the_earliest_wins(base: World,
                                                            project: Path) -> None:
    write_play(project, "webinar", "Webinar follow-up")
    write_play(project, "enterprise", "Enterprise outbound")
    queue_item(base, "webinar", "ann@acme.test", "s2", NOW - timedelta(minutes=5))
    queue_item(base, "enterprise", "ann@acme.test", "s1", NOW - timedelta(minutes=1))

    result = decide(base, project)

    assert (result.enroll, result.refused) == (1, 1)
    assert base.outbox() == [("enroll", "ann@acme.test", "s2")]
    assert base.sql("select play, status, reason from ops.play_queue order by play") == [
        ("enterprise", "refused", "another enrollment of this person won this run: s2"),
        ("webinar", "enrolled", None)]


def test_an_enrollment_not_yet_posted_counts_as_open(base: World, project: Path) -> None:
    manual_enroll(base, "ann@acme.test", "Webinar follow-up")
    with pytest.raises(EnrollmentBlocked, match="already in an open sequence: s2"):
        base.release()
        manual.enroll(base.path, "ann@acme.test", "Enterprise outbound",
                      now=NOW + timedelta(minutes=1), sequencer=CRM, actor="user:ana", post=False)


def test_never_the_same_sequence_twice_unless_the_play_allows(base: World,
                                                              project: Path) -> None:
    base.enrollment("e1", "ann@acme.test", "s2", state="finished")
    base.enrollment("e2", "bob@acme.test", "s2", state="unenrolled")
    write_play(project, "webinar", "Webinar follow-up")
    write_play(project, "again", "Webinar follow-up", allow_reenrollment=True)
    queue_item(base, "webinar", "ann@acme.test", "s2", NOW)
    queue_item(base, "again", "bob@acme.test", "s2", NOW)

    decide(base, project)

    assert base.outbox() == [("enroll", "bob@acme.test", "s2")]
    assert base.sql("select play, status, reason from ops.play_queue order by play") == [
        ("again", "enrolled", None),
        ("webinar", "refused",
         "already enrolled in this sequence once; re-enrollment is not allowed")]
    with pytest.raises(EnrollmentBlocked, match="re-enrollment is not allowed; pass --reenroll"):
        manual_enroll(base, "ann@acme.test", "Webinar follow-up")
    manual_enroll(base, "ann@acme.test", "Webinar follow-up", reenroll=True)


def test_unsubscribed_people_are_never_enrolled(base: World, project: Path) -> None:
    base.people({"email": "opt@beta.test", "is_unsubscribed": True})
    # the rule's match is missing (say it was edited and is pending): the flag still counts
    base.global_rule(RUN, "unsubscribed", sequences=("Webinar follow-up",))
    write_play(project, "webinar", "Webinar follow-up")
    queue_item(base, "webinar", "opt@beta.test", "s2", NOW)

    decide(base, project)

    assert base.outbox() == []
    assert base.sql("select status, rule from ops.play_queue") == [("skipped", "unsubscribed")]
    with pytest.raises(EnrollmentBlocked, match="unsubscribed .*unsubscribed in the CRM"):
        manual_enroll(base, "opt@beta.test", "Enterprise outbound")


def test_max_enrollments_per_company_counts_open_and_new(base: World, project: Path) -> None:
    base.people({"email": "dee@acme.test"}, {"email": "eve@acme.test"},
                {"email": "fay@acme.test", "company_domain": "acme.test"})
    base.enrollment("e1", "dee@acme.test", "s2")                 # open: counts
    base.enrollment("e2", "eve@acme.test", "s2", state="finished")  # not open: does not
    write_play(project, "webinar", "Webinar follow-up", max_enrollments_per_company=2)
    for i, email in enumerate(["fay@acme.test", "ann@acme.test", "bob@acme.test",
                               "cy@beta.test"]):
        queue_item(base, "webinar", email, "s2", NOW - timedelta(minutes=10 - i))

    result = decide(base, project)

    assert (result.enroll, result.refused) == (2, 2)
    assert base.outbox("email") == [("cy@beta.test",), ("fay@acme.test",)]
    refused = base.sql("select email, reason from ops.play_queue where status = 'refused' "
                       "order by email")
    assert [r[0] for r in refused] == ["ann@acme.test", "bob@acme.test"]
    assert "company acme.test already has 2 enrollments" in refused[0][1]


def test_failed_rule_blocks_its_sequences_and_removes_no_one(base: World,
                                                            project: Path) -> None:
    base.enrollment("e1", "ann@acme.test", "s1")
    base.scope(RUN, "broken", sequence="Enterprise outbound", removes=False, why=("ruleset",),
               failed=True, error="sql/exclusions/broken.sql:3: Binder Error")
    write_play(project, "enterprise", "Enterprise outbound")
    write_play(project, "webinar", "Webinar follow-up")
    queue_item(base, "enterprise", "bob@acme.test", "s1", NOW)
    queue_item(base, "webinar", "cy@beta.test", "s2", NOW)

    result = decide(base, project)

    assert (result.unenroll, result.held, result.enroll) == (0, 1, 1)
    assert base.outbox() == [("enroll", "cy@beta.test", "s2")]
    # held back, not skipped: released once the rule runs again
    assert base.sql("select play, status from ops.play_queue order by play") == [
        ("enterprise", "queued"), ("webinar", "enrolled")]
    with pytest.raises(EnrollmentBlocked, match=r"broken \(failed: the rule failed.*Binder"):
        manual_enroll(base, "bob@acme.test", "Enterprise outbound")


def test_nothing_is_decided_for_a_run_whose_rules_did_not_run(world: World,
                                                             project: Path) -> None:
    world.sequences(("s1", "Enterprise outbound"))
    world.people({"email": "ann@acme.test"})
    write_play(project, "enterprise", "Enterprise outbound")
    queue_item(world, "enterprise", "ann@acme.test", "s1", NOW)
    result = decide(world, project, run_id="never-evaluated")
    assert result.enroll == 0 and "fail closed" in result.warnings[0]
    assert world.outbox() == []
    with pytest.raises(EnrollmentBlocked, match="no rules have been evaluated"):
        manual_enroll(world, "ann@acme.test", "Enterprise outbound")


def test_play_item_of_a_disabled_play_is_not_released(base: World, project: Path) -> None:
    write_play(project, "webinar", "Webinar follow-up", enabled=False)
    queue_item(base, "webinar", "ann@acme.test", "s2", NOW)
    assert decide(base, project).enroll == 0
    assert base.outbox() == []
