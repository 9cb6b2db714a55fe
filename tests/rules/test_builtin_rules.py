"""One scenario per built-in rule, from builtin_cases.yml (input rows -> matched people)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tasks.core.resources import BUILTIN_RULES_DIR
from tasks.rules.evaluate import evaluate_rules
from tasks.rules.files import parse_rule_file
from tests.rules.conftest import NOW, insert, matched

CASES = yaml.safe_load((Path(__file__).parent / "builtin_cases.yml").read_text())
DEFAULTS = {
    "crm.people": {"is_unsubscribed": False, "is_bounced": False},
    "crm.companies": {"aliases": [], "hubspot_ids": [], "salesforce_account_ids": []},
    "crm.engagements": {"crm": "hubspot", "is_ooo": False, "is_bounce": False,
                        "direction": None, "email": None, "from_email": None,
                        "sent_by_sequence": None},
}


def when(value: Any) -> Any:
    """'-10d' / '+3d' relative to NOW."""
    if isinstance(value, str) and (m := re.fullmatch(r"([+-]\d+)d", value)):
        return NOW + timedelta(days=int(m.group(1)))
    return value


def rows_for(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    filled = []
    for row in rows:
        full = {**DEFAULTS.get(table, {}), **{k: when(v) for k, v in row.items()}}
        if table == "crm.people" and "company_domain" not in row:
            full["company_domain"] = row["email"].split("@")[1]
        filled.append(full)
    return filled


def test_every_builtin_rule_has_a_scenario() -> None:
    assert {p.stem for p in BUILTIN_RULES_DIR.glob("*.sql")} == set(CASES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_builtin_rule_matches_exactly_the_expected_people(rule: str, db: Path,
                                                          project: Path) -> None:
    case = CASES[rule]
    for table, rows in case.items():
        if table != "expected":
            insert(db, table, rows_for(table, rows))
    evaluation = evaluate_rules(db, project, "run-1", NOW)
    assert evaluation.rules_failed == []
    assert matched(db, "run-1", rule) == set(case["expected"])


def test_activity_rules_ignore_the_sequencers_own_emails(db: Path, project: Path) -> None:
    """A sequence's first step (and a reply-like event it logged) unenrolls no one."""
    insert(db, "crm.people", rows_for("crm.people", [{"email": "new@acme.com"}]))
    insert(db, "crm.engagements", rows_for("crm.engagements", [
        {"engagement_id": "s1", "type": "email", "direction": "outbound",
         "email": "new@acme.com", "sent_by_sequence": "seq-1", "occurred_at": "-20d"},
        {"engagement_id": "s2", "type": "email", "direction": "inbound",
         "email": "new@acme.com", "from_email": "new@acme.com", "sent_by_sequence": "seq-1",
         "occurred_at": "-1d"},
    ]))
    evaluate_rules(db, project, "run-1", NOW)
    for rule in ("replied", "emailed_us", "colleague_replied", "recent_manual_email"):
        assert matched(db, "run-1", rule) == set(), rule


def test_cycle_time_moves_the_windows(db: Path, project: Path) -> None:
    """The same reply is inside the 90-day window at one `now` and outside at another."""
    insert(db, "crm.people", rows_for("crm.people", [{"email": "ann@acme.com"}]))
    insert(db, "crm.engagements", rows_for("crm.engagements", [
        {"engagement_id": "r1", "type": "email", "direction": "inbound",
         "email": "ann@acme.com", "from_email": "ann@acme.com", "occurred_at": "-10d"}]))
    evaluate_rules(db, project, "run-1", NOW)
    evaluate_rules(db, project, "run-2", NOW + timedelta(days=85))
    assert matched(db, "run-1", "replied") == {"ann@acme.com"}
    assert matched(db, "run-2", "replied") == set()
    assert isinstance(NOW, datetime)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_builtin_rule_runs_unchanged_in_a_plain_duckdb_session(rule: str, db: Path,
                                                               project: Path) -> None:
    """README: the SQL runs unchanged in DuckDB. cycle_time() and has_option() are stored
    in the database; cycle_time() there is the last cycle's time."""
    case = CASES[rule]
    for table, rows in case.items():
        if table != "expected":
            insert(db, table, rows_for(table, rows))
    insert(db, "ops.runs", [{"run_id": "run-1", "started_at": NOW, "now": NOW,
                             "dry_run": False, "status": "finished"}])
    parsed = parse_rule_file(BUILTIN_RULES_DIR / f"{rule}.sql", BUILTIN_RULES_DIR)
    with duckdb.connect(str(db)) as con:  # no seqguard code between the file and DuckDB
        assert con.execute("select cycle_time()").fetchall() == [(NOW,)]
        found = {r[0] for r in con.execute(parsed.sql).fetchall()}
        if parsed.level == "company":
            found = {r[0] for r in con.execute(
                # everyone at the companies those domains name (as the engine reaches them)
                "select p.email from crm.people as p "
                "join crm.company_domains as mine on mine.domain = p.company_domain "
                "join crm.company_domains as named on named.company_domain = mine.company_domain "
                "where named.domain in (select crm.normalize_domain(unnest(?::varchar[])))",
                [sorted(found)]).fetchall()}
    assert {e.strip().lower() for e in found} == set(case["expected"])
