"""A big HubSpot company end to end: sandbox -> sync -> model -> a company-level rule.

HubSpot pages each record's associations (500 a page in the sandbox, as the v4 reference
documents), so a record with more than a page of them is where a sync that reads one page
per input silently loses people.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from tasks.core.config import Config, sandbox_config
from tasks.model import build_model
from tasks.rules.evaluate import evaluate_rules
from tasks.sync.hubspot.sync import sync_hubspot
from tests.rules.conftest import matched, write_rule

NOW = datetime(2026, 3, 2, 9, 0, 0)
STAFF = 1_200


@pytest.fixture
def config(sandbox) -> Config:
    return sandbox_config(sandbox.url, sandbox.cert)


def test_a_company_with_1200_contacts_is_excluded_whole_by_a_company_rule(
        sandbox, config: Config, tmp_path: Path) -> None:
    sandbox.reset(now=NOW)
    # private addresses: only the CRM's association puts these people at the company
    staff = sandbox.upsert_hubspot("contacts", [
        {"properties": {"email": f"staff{i}@gmail.com", "firstname": f"S{i}"}}
        for i in range(STAFF)])
    others = sandbox.upsert_hubspot("contacts", [
        {"properties": {"email": f"other{i}@gmail.com"}} for i in range(3)])
    big, small = sandbox.upsert_hubspot("companies", [
        {"properties": {"name": "Big Co", "domain": "bigco.example"}},
        {"properties": {"name": "Small Co", "domain": "smallco.example"}}])
    [deal] = sandbox.upsert_hubspot("deals", [{"properties": {
        "dealname": "Enterprise renewal", "pipeline": "default", "dealstage": "contractsent"}}])
    sandbox.associate(
        [{"from_type": "companies", "from_id": big["id"], "to_type": "contacts",
          "to_id": p["id"]} for p in staff]
        + [{"from_type": "companies", "from_id": small["id"], "to_type": "contacts",
            "to_id": p["id"]} for p in others]
        # the whole staff on one deal: 1,200 associations of one record, three pages
        + [{"from_type": "deals", "from_id": deal["id"], "to_type": "contacts",
            "to_id": p["id"]} for p in staff]
        + [{"from_type": "deals", "from_id": deal["id"], "to_type": "companies",
            "to_id": big["id"]}])
    db, project = tmp_path / "seqguard.duckdb", tmp_path / "project"
    (project / "sql" / "exclusions" / "builtin").mkdir(parents=True)  # only our rule runs
    write_rule(project, "named_account", "select 'BigCo.example' as company_domain, "
                                         "'named account' as reason", level="company")
    sandbox.clear_requests()

    sync_hubspot(db, config, NOW, objects=("contacts", "companies", "deals"))
    build_model(db, project, config)
    evaluation = evaluate_rules(db, project, "run-1", NOW)

    assert evaluation.rules_failed == []
    assert matched(db, "run-1", "named_account") == {f"staff{i}@gmail.com" for i in range(STAFF)}
    with duckdb.connect(str(db), read_only=True) as con:
        on_deal = con.execute("select count(distinct email) from crm.opportunity_contacts "
                              "where opportunity_id = ?", [deal["id"]]).fetchone()[0]
    assert on_deal == STAFF
    deal_reads = [e for e in sandbox.requests()
                  if e["path"] == "/crm/v4/associations/deals/contacts/batch/read"]
    assert [e["status"] for e in deal_reads] == [200, 200, 200]  # the first page and two more
