"""Plays end to end on a real database with the real rules engine: audiences queued at
event time + delay, released by the cycle's clock, exclusions checked at release."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tasks.decide import decide, plays
from tasks.rules.evaluate import evaluate_rules
from tests.decide.conftest import CRM, World, write_play

T0 = datetime(2026, 11, 25, 9, 0)
SIGNUPS = ("select email, created_at as event_at from crm.people "
           "where created_at > cycle_time() - interval 1 day")


def cycle(world: World, project: Path, now: datetime) -> decide.DecideResult:
    """The cycle's rule, play and decision steps, in the flow's order."""
    world.release()
    run_id = f"run-{now:%H%M}"
    evaluate_rules(world.path, project, run_id, now, timedelta(minutes=30))
    plays.queue_plays(world.path, project, now, sequencer=CRM)
    return decide.decide(world.path, project, run_id, now, sequencer=CRM)


@pytest.fixture
def signups(world: World, project: Path) -> World:
    world.sequences(("s2", "Webinar follow-up"))
    world.people({"email": "ann@acme.test", "created_at": T0},
                 {"email": "bob@beta.test", "created_at": T0})
    write_play(project, "webinar_followup", "Webinar follow-up", SIGNUPS)
    return world


def test_crm_event_play_enrolls_at_30_minutes_and_skips_a_deal_opened_at_10(
        signups: World, project: Path) -> None:
    assert cycle(signups, project, T0).enroll == 0
    assert signups.sql("select email, event_at, release_at, status from ops.play_queue "
                       "order by email") == [
        ("ann@acme.test", T0, T0 + timedelta(minutes=30), "queued"),
        ("bob@beta.test", T0, T0 + timedelta(minutes=30), "queued")]

    signups.sql("insert into crm.opportunities (opportunity_id, crm, name, is_closed, is_won, "
                "company_domain) values ('d1', 'hubspot', 'Beta renewal', false, false, "
                "'beta.test')")
    assert cycle(signups, project, T0 + timedelta(minutes=10)).enroll == 0
    assert cycle(signups, project, T0 + timedelta(minutes=29)).enroll == 0
    assert signups.outbox() == []

    result = cycle(signups, project, T0 + timedelta(minutes=30))

    assert (result.enroll, result.skip) == (1, 1)
    assert signups.outbox("kind", "email", "sequence_id", "sender") == [
        ("enroll", "ann@acme.test", "s2", "owner@us.test")]
    assert signups.sql("select email, status, rule from ops.play_queue order by email") == [
        ("ann@acme.test", "enrolled", None), ("bob@beta.test", "skipped", "open_opportunity")]
    assert ("skip", "bob@beta.test", "s2", "open_opportunity", "global") in signups.decisions()
    # the audience returned them every cycle: the same event is never queued twice
    assert signups.sql("select count(*) from ops.play_queue") == [(2,)]


def test_play_delay_is_its_own_within_20_to_30_minutes(signups: World, project: Path) -> None:
    write_play(project, "webinar_followup", "Webinar follow-up", SIGNUPS, delay="20m")
    cycle(signups, project, T0)
    assert cycle(signups, project, T0 + timedelta(minutes=19)).enroll == 0
    assert cycle(signups, project, T0 + timedelta(minutes=20)).enroll == 2


def test_schedule_play_releases_at_once_and_queues_a_person_once(world: World,
                                                                project: Path) -> None:
    world.sequences(("s1", "Enterprise outbound"))
    world.people({"email": "ann@acme.test"}, {"email": "bob@beta.test"})
    write_play(project, "outbound", "Enterprise outbound", "select email from crm.people",
               trigger="schedule")
    assert cycle(world, project, T0).enroll == 2
    world.enrollment("e1", "ann@acme.test", "s1", state="finished")
    world.enrollment("e2", "bob@beta.test", "s1", state="finished")
    assert cycle(world, project, T0 + timedelta(minutes=15)).enroll == 0
    assert world.sql("select count(*) from ops.play_queue") == [(2,)]


def test_a_broken_audience_queues_nobody_and_says_why(world: World, project: Path) -> None:
    world.sequences(("s1", "Enterprise outbound"))
    world.people({"email": "ann@acme.test"})
    write_play(project, "outbound", "Enterprise outbound", "select email from crm.nowhere",
               trigger="schedule")
    world.release()
    result = plays.queue_plays(world.path, project, T0, sequencer=CRM)
    assert result.queued == {}
    assert "outbound.sql: the audience failed" in result.problems[0]


def test_a_play_naming_an_unknown_sequence_queues_nobody(world: World, project: Path) -> None:
    world.people({"email": "ann@acme.test"})
    write_play(project, "outbound", "Nope", "select email from crm.people", trigger="schedule")
    world.release()
    result = plays.queue_plays(world.path, project, T0, sequencer=CRM)
    assert result.queued == {} and "sequence 'Nope' is not at the hubspot sequencer" in \
        result.problems[0]


def test_disabling_a_play_closes_its_queued_items(signups: World, project: Path) -> None:
    cycle(signups, project, T0)
    write_play(project, "webinar_followup", "Webinar follow-up", SIGNUPS, enabled=False)
    assert cycle(signups, project, T0 + timedelta(minutes=30)).enroll == 0
    assert signups.sql("select distinct status from ops.play_queue") == [("skipped",)]
