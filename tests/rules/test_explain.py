"""`seqguard explain EMAIL` and `seqguard preview [--play P]`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from flows.cli import main
from tasks.rules.evaluate import evaluate_rules
from tasks.rules.explain import explain
from tasks.rules.preview import preview
from tests.rules.conftest import NOW, insert, people, write, write_rule


@pytest.fixture
def scene(db: Path, project: Path) -> tuple[Path, Path]:
    """Three people at acme.com (one unsubscribed, one on an open deal's company), a
    ruleset, a play, and a cycle already run."""
    (project / "sql/exclusions/builtin").mkdir()
    people(db, "ann@acme.com", "bob@acme.com", is_unsubscribed=False, first_name="Ann")
    people(db, "cat@beta.com", is_unsubscribed=True)
    insert(db, "crm.company_domains", [{"domain": "acme.com", "company_domain": "acme.com"}])
    insert(db, "crm.opportunities", [{"opportunity_id": "d1", "crm": "hubspot", "name": "Big",
                                      "is_closed": False, "is_won": False,
                                      "company_domain": "acme.com"}])
    write_rule(project, "open_deal", "select company_domain, 'open deal: ' || name as reason "
                                     "from crm.opportunities where not is_closed",
               level="company")
    write_rule(project, "unsubscribed", "select email, 'opted out' as reason from crm.people "
                                        "where is_unsubscribed")
    write_rule(project, "vip", "select 'bob@acme.com' as email, 'board member' as reason",
               exclude_from_sequences="false", remove_enrolled="false")
    write(project, "sql/rulesets.yml", 'sequences:\n  "Enterprise outbound": {rules: [vip]}\n')
    write(project, "sql/plays/webinar.yml", """
        play: webinar
        sequence: "Webinar follow-up"
        audience: webinar.sql
        trigger: manual
        exclusions: [vip]
    """)
    write(project, "sql/plays/webinar.sql",
          "select email from crm.people where email in ('bob@acme.com', 'cat@beta.com')")
    evaluate_rules(db, project, "run-1", NOW)
    return db, project


def test_explain_names_each_matching_rule_its_reason_and_scope(scene: tuple[Path, Path]) -> None:
    db, project = scene
    data = explain(db, project, " Bob@Acme.com ", NOW)
    assert data["person"]["email"] == "bob@acme.com"
    assert [(r["rule"], r["reason"]) for r in data["rules"]] == [
        ("open_deal", "open deal: Big"), ("vip", "board member")]
    vip = {(s["sequence"], s["play"]): (s["blocks_new"], s["removes_enrolled"], s["why"])
           for s in data["rules"][1]["per_sequence"]}
    assert vip == {
        ("Enterprise outbound", None): (True, False, ["ruleset"]),
        ("Webinar follow-up", None): (False, False, []),
        ("Webinar follow-up", "webinar"): (True, False, ["play"]),
        ("(any other sequence)", None): (False, False, []),
    }
    deal = data["rules"][0]
    assert deal["company_domain"] == "acme.com"
    assert {s["sequence"]: s["why"] for s in deal["per_sequence"]}["(any other sequence)"] == \
        ["global"]


def test_explain_shows_pending_versions(scene: tuple[Path, Path]) -> None:
    db, project = scene
    write_rule(project, "vip", "select 'ann@acme.com' as email, 'new board' as reason")
    data = explain(db, project, "ann@acme.com", NOW + timedelta(minutes=5))
    pending, = data["pending"]
    assert (pending["rule"], pending["matches"], pending["matches_now"], pending["reason"]) == \
        ("vip", True, False, "new board")
    assert pending["effective_from"] == NOW + timedelta(minutes=35)
    assert [r["rule"] for r in data["rules"]] == ["open_deal"]


def test_explain_cli_text_and_json(scene: tuple[Path, Path],
                                   capsys: pytest.CaptureFixture) -> None:
    db, project = scene
    args = ["--db", str(db), "--project", str(project), "--now", NOW.isoformat()]
    assert main(["explain", "cat@beta.com", *args]) == 0
    text = capsys.readouterr().out
    assert "- unsubscribed: opted out" in text
    assert "(any other sequence): blocks new enrollment, removes if enrolled (global)" in text
    assert main(["explain", "cat@beta.com", "--json", *args]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rules"][0]["rule"] == "unsubscribed" and data["now"] == NOW.isoformat()


def test_explain_lists_failed_rules_that_block(scene: tuple[Path, Path]) -> None:
    db, project = scene
    write_rule(project, "broken", "select email from crm.nowhere")
    data = explain(db, project, "ann@acme.com", NOW, timedelta(0))
    failed, = data["failed"]
    assert failed["rule"] == "broken"
    assert failed["error"].startswith("sql/exclusions/broken.sql:7: ")
    assert "nowhere does not exist" in failed["error"]
    assert all(r["blocks_new"] and not r["removes_enrolled"] for r in failed["per_sequence"])


def test_preview_counts_people_and_people_only_this_rule_excludes(
        scene: tuple[Path, Path]) -> None:
    db, project = scene
    data = preview(db, project, NOW)
    rows = {r["rule"]: (r["people"], r["only_this"], r["applies"]) for r in data["rules"]}
    assert rows == {
        "open_deal": (2, 1, "global"),        # ann only by it; bob also by vip
        "unsubscribed": (1, 1, "global"),
        "vip": (1, 0, "ruleset 'Enterprise outbound'; play webinar"),
    }
    assert data["excluded"] == 3


def test_preview_of_a_play_counts_within_its_audience(scene: tuple[Path, Path],
                                                      capsys: pytest.CaptureFixture) -> None:
    db, project = scene
    data = preview(db, project, NOW, play="webinar")
    rows = {r["rule"]: (r["people"], r["only_this"]) for r in data["rules"]}
    assert data["audience"] == 2 and data["excluded"] == 2
    assert rows == {"open_deal": (1, 0), "unsubscribed": (1, 1), "vip": (1, 0)}
    assert main(["preview", "--play", "webinar", "--db", str(db), "--project", str(project),
                 "--now", NOW.isoformat()]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("play webinar -> 'Webinar follow-up': audience 2, excluded 2")
    assert out[1].split() == ["rule", "version", "applies", "people", "only", "this"]


def test_preview_of_an_unknown_play_is_one_line(scene: tuple[Path, Path],
                                                capsys: pytest.CaptureFixture) -> None:
    db, project = scene
    assert main(["preview", "--play", "nope", "--db", str(db), "--project", str(project)]) == 1
    assert capsys.readouterr().err.strip() == (
        "seqguard preview: sql/plays/nope.yml: no such play (plays: webinar); check the name")


def test_explain_without_a_database_says_so(project: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "none.duckdb"
    assert main(["explain", "a@b.c", "--db", str(missing), "--project", str(project)]) == 2
    assert "no database yet; run `seqguard cycle` first" in capsys.readouterr().err
