"""Messy rule output cannot fail open in silence (issue 14, item 6): keys are normalized
with the model's own macros, and the rows that still reach no one are counted per rule,
in rules.runs and the run report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.rules.evaluate import evaluate_rules
from tasks.run.report import rules_section
from tests.rules.conftest import (  # noqa: F401 - fixtures
    NOW,
    db,
    insert,
    matched,
    migrated_template,
    people,
    project,
    query,
    write_rule,
)

NBSP, BOM, IDEOGRAPHIC_SPACE = "\u00a0", "\ufeff", "\u3000"


def values(*rows: str) -> str:
    """A SELECT of literal keys; chr() spells the invisible characters."""
    def literal(text: str) -> str:
        return " || ".join(f"chr({ord(c)})" if not c.isprintable() or c.isspace()
                           else "'" + c.replace("'", "''") + "'" for c in text) or "''"
    return " union all ".join(f"select {literal(r)} as key" for r in rows)


@pytest.fixture
def acme(db: Path, project: Path) -> Path:  # noqa: F811
    (project / "sql" / "exclusions" / "builtin").mkdir(parents=True)
    people(db, "ann@example.com", "bob@example.com")
    insert(db, "crm.companies", [{"company_domain": "example.com", "name": "Example"}])
    insert(db, "crm.company_domains", [{"domain": "example.com",
                                        "company_domain": "example.com"}])
    return db


@pytest.mark.parametrize("messy", [
    "\tann@example.com", "ann@example.com\n", "\r\nann@example.com\r\n",
    f"{NBSP}ann@example.com{NBSP}", f"{BOM}Ann@Example.COM", f" {IDEOGRAPHIC_SPACE}ann@example.com",
])
def test_an_email_with_white_space_of_any_kind_around_it_matches_the_person(
        acme: Path, project: Path, messy: str) -> None:  # noqa: F811
    write_rule(project, "messy", f"select key as email from ({values(messy)})")
    evaluate_rules(acme, project, "run-1", NOW)
    assert matched(acme, "run-1", "messy") == {"ann@example.com"}
    assert query(acme, "select status, unmatched_rows from rules.runs "
                       "where rule = 'messy'") == [("ok", 0)]


@pytest.mark.parametrize("messy", [
    "https://www.example.com/", "HTTP://Example.com:443/about?x=1", "\twww.example.com\n",
    f"{NBSP}example.com/", "example.com.",
])
def test_a_company_given_as_a_website_matches_its_people(acme: Path, project: Path,  # noqa: F811
                                                         messy: str) -> None:
    write_rule(project, "site", f"select key as company_domain from ({values(messy)})",
               level="company")
    evaluate_rules(acme, project, "run-1", NOW)
    assert matched(acme, "run-1", "site") == {"ann@example.com", "bob@example.com"}
    assert query(acme, "select unmatched_rows from rules.runs where rule = 'site'") == [(0,)]


def test_rows_that_reach_no_one_are_counted_per_rule_and_reported(acme: Path,
                                                                  project: Path,  # noqa: F811
                                                                  ) -> None:
    write_rule(project, "contacts", "select key as email from (" + values(
        "ann@example.com", "ghost@nowhere.test", "not an email", "") + ")")
    write_rule(project, "companies", "select key as company_domain from (" + values(
        "example.com", "nobody.test", "localhost") + ")", level="company")
    evaluation = evaluate_rules(acme, project, "run-1", NOW)
    assert dict(query(acme, "select rule, unmatched_rows from rules.runs "
                            "where kind = 'rule'")) == {"contacts": 3, "companies": 2}
    report = "\n".join(rules_section({"runs": [vars(r) for r in evaluation.runs]}))
    assert "matched nobody" in report
    assert "contacts 3, companies 2" in report or "companies 2, contacts 3" in report
