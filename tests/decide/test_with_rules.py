"""Decisions on what the real rules engine writes: rule files, rulesets.yml and a play's
exclusions evaluated by tasks.rules, then decided."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tasks.decide import decide, manual
from tasks.decide.manual import EnrollmentBlocked
from tasks.rules.evaluate import evaluate_rules
from tests.decide.conftest import CRM, World, queue_item, write_play

NOW = datetime(2026, 11, 25, 9, 0)
VIP = """-- rule: vip_accounts
-- description: Accounts the founders handle themselves.
-- level: company
-- exclude_from_sequences: {exclude}
-- remove_enrolled: {remove}
select company_domain, 'vip' as reason from crm.companies where name = 'VIP'
"""


def rules_and_decide(world: World, project: Path) -> decide.DecideResult:
    world.release()
    evaluate_rules(world.path, project, "run-1", NOW, timedelta(minutes=30))
    return decide.decide(world.path, project, "run-1", NOW, sequencer=CRM)


def enroll(world: World, email: str, sequence: str) -> None:
    world.release()
    manual.enroll(world.path, email, sequence, now=NOW, sequencer=CRM, actor="user:ana", post=False)


@pytest.fixture
def vip(world: World) -> World:
    world.sequences(("s1", "Enterprise outbound"), ("s2", "Webinar follow-up"))
    world.company("vip.test", "vip-group.test")
    world.sql("update crm.companies set name = 'VIP' where company_domain = 'vip.test'")
    world.people({"email": "ann@vip.test"}, {"email": "al@vip-group.test",
                                             "company_domain": "vip.test"},
                 {"email": "bo@vip.test"}, {"email": "cy@other.test"})
    world.enrollment("e1", "ann@vip.test", "s1")
    world.enrollment("e2", "al@vip-group.test", "s2")
    return world


def rule(project: Path, *, exclude: bool, remove: bool, ruleset: str | None = None) -> None:
    (project / "sql" / "exclusions" / "vip_accounts.sql").write_text(
        VIP.format(exclude=str(exclude).lower(), remove=str(remove).lower()))
    if ruleset:
        (project / "sql" / "rulesets.yml").write_text(
            f'default: {{rules: []}}\nsequences:\n  "{ruleset}": {{rules: [vip_accounts]}}\n')


def test_a_ruleset_turns_a_company_rule_on_for_one_sequence(vip: World, project: Path) -> None:
    rule(project, exclude=False, remove=True, ruleset="Enterprise outbound")
    result = rules_and_decide(vip, project)
    # ann (s1, ruleset on) leaves; al (alias domain, in s2 where it is off) stays
    assert result.unenroll == 1
    assert vip.outbox("email", "sequence_id", "rule") == [("ann@vip.test", "s1", "vip_accounts")]
    with pytest.raises(EnrollmentBlocked, match=r"vip_accounts \(ruleset: vip\)"):
        enroll(vip, "bo@vip.test", "Enterprise outbound")
    enroll(vip, "bo@vip.test", "Webinar follow-up")


def test_remove_enrolled_false_keeps_the_enrolled_and_blocks_new(vip: World,
                                                                 project: Path) -> None:
    rule(project, exclude=True, remove=False)
    assert rules_and_decide(vip, project).unenroll == 0
    with pytest.raises(EnrollmentBlocked, match=r"vip_accounts \(global: vip\)"):
        enroll(vip, "bo@vip.test", "Webinar follow-up")


def test_global_toggle_on_wins_over_a_play_that_does_not_list_it(vip: World,
                                                                 project: Path) -> None:
    rule(project, exclude=True, remove=True)
    write_play(project, "webinar", "Webinar follow-up", exclusions="[recent_manual_email]")
    queue_item(vip, "webinar", "bo@vip.test", "s2", NOW)
    queue_item(vip, "webinar", "cy@other.test", "s2", NOW)
    result = rules_and_decide(vip, project)
    assert (result.unenroll, result.skip, result.enroll) == (2, 1, 1)
    assert vip.sql("select email, status, rule from ops.play_queue order by email") == [
        ("bo@vip.test", "skipped", "vip_accounts"), ("cy@other.test", "enrolled", None)]


def test_a_rule_that_fails_blocks_where_it_applies_and_removes_no_one(
        vip: World, project: Path) -> None:
    (project / "sql" / "exclusions" / "vip_accounts.sql").write_text(
        VIP.format(exclude="true", remove="true").replace("crm.companies", "crm.nowhere"))
    result = rules_and_decide(vip, project)
    assert result.unenroll == 0
    with pytest.raises(EnrollmentBlocked, match=r"vip_accounts \(failed: the rule failed"):
        enroll(vip, "cy@other.test", "Webinar follow-up")
