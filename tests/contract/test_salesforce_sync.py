"""Contract: every Salesforce call the sync makes (describe, queryAll and its
nextRecordsUrl pages, the newest-SystemModstamp probe), request and answer, held against
what Salesforce documents (salesforce_reference.py, each shape cited there), through
simple-salesforce and the sync's own client over HTTPS to the sandbox.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from salesforce_reference import (
    DELETED_EXAMPLE,
    DESCRIBE_EXAMPLE,
    DOCUMENTED_FIELDS,
    ERROR_BODY_EXAMPLE,
    QUERY_EXAMPLE,
    SALESFORCE_TIME,
    UPDATED_EXAMPLE,
    Recorder,
    mismatches,
    soql_of,
    undocumented_fields,
)
from simple_salesforce import Salesforce

from sandbox.client import SandboxClient
from tasks.core.config import Config
from tasks.core.errors import SyncError
from tasks.db.store import connect
from tasks.sync.limiter import RateLimiter
from tasks.sync.salesforce import settings
from tasks.sync.salesforce.client import SalesforceClient
from tasks.sync.salesforce.sync import build_query, latest_modified, object_spec, sync_salesforce

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def org(sandbox: SandboxClient, salesforce_client: Salesforce) -> SandboxClient:
    """Generated CRM data, and a cadence that has emailed two people once."""
    sandbox.reset(seed=3, contacts=800, now=NOW.isoformat())
    sandbox.define_sequences([{"id": "101", "name": "Outbound",
                               "steps": [{"after_minutes": 0}, {"after_minutes": 1440}]}])
    targets = salesforce_client.query("SELECT Id FROM Contact WHERE HasOptedOutOfEmail = false "
                                      "ORDER BY Id LIMIT 2")["records"]
    salesforce_client.restful("actions/standard/assignTargetToSalesCadence", method="POST",
                              json={"inputs": [{"salesCadenceNameOrId": "Outbound",
                                                "targetId": t["Id"]} for t in targets]})
    sandbox.set_clock((NOW + timedelta(minutes=5)).isoformat())
    return sandbox


def client_with(config: Config) -> tuple[SalesforceClient, Recorder]:
    assert config.salesforce is not None
    client = SalesforceClient(config.salesforce, RateLimiter(limit=None))
    return client, Recorder().attach(client.session)


def test_describe_answers_in_the_documented_shape_for_every_synced_object(
        org: SandboxClient, config: Config) -> None:
    client, recorder = client_with(config)
    for sobject in settings.OBJECTS:
        described = client.describe(sobject)
        # the keys the sync reads: name, fields[].name/type/picklistValues[].label/value
        read = {"name": described["name"], "fields": [
            {"name": f["name"], "type": f["type"], "label": f["label"],
             "picklistValues": f["picklistValues"]} for f in described["fields"]]}
        assert mismatches(read, DESCRIBE_EXAMPLE) == [], sobject
        names = {f["name"] for f in described["fields"]}
        # every field the sync asks for exists on the real object, and the sandbox has it
        assert set(settings.DEFAULT_FIELDS[sobject]) <= DOCUMENTED_FIELDS[sobject], sobject
        assert set(settings.DEFAULT_FIELDS[sobject]) <= names, sobject
        assert names <= DOCUMENTED_FIELDS[sobject], sorted(names - DOCUMENTED_FIELDS[sobject])
    paths = [urlsplit(e.url).path for e in recorder.exchanges]
    assert all(p.endswith(f"/sobjects/{o}/describe") for p, o in zip(
        paths, settings.OBJECTS, strict=True))


def test_query_all_pages_follow_next_records_url_in_the_documented_shape(
        org: SandboxClient, config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "BATCH_SIZE", 200)  # the smallest batch Salesforce allows
    client, recorder = client_with(config)
    for sobject in settings.OBJECTS:
        spec = object_spec(sobject, client.describe(sobject), [])
        upper = latest_modified(client, sobject)
        since = None if sobject == "Contact" else (upper or NOW) - timedelta(days=400)
        list(client.query_all_pages(build_query(spec, since, upper)))
    queries = recorder.queries()
    assert any(e.answer.get("nextRecordsUrl") for e in queries)
    for previous, exchange in zip(queries, queries[1:], strict=False):
        if previous.answer.get("nextRecordsUrl"):  # followed exactly as given
            assert urlsplit(exchange.url).path == previous.answer["nextRecordsUrl"]
    for exchange in queries:
        assert exchange.status == 200
        assert "/queryAll/" in urlsplit(exchange.url).path
        assert exchange.headers["Sforce-Query-Options"] == "batchSize=200"
        page = {k: v for k, v in exchange.answer.items() if k != "records"}
        assert mismatches(page, QUERY_EXAMPLE) == []
        for record in exchange.answer["records"]:
            assert mismatches(record["attributes"],
                              QUERY_EXAMPLE["records"][0]["attributes"]) == []
            for name, value in record.items():
                if value and isinstance(value, str) and name.endswith("Date") and "T" in value:
                    assert SALESFORCE_TIME.match(value), (name, value)
        if "?" in exchange.url and "q=" in exchange.url:
            assert undocumented_fields(soql_of(exchange.url)) == [], soql_of(exchange.url)


def test_an_undocumented_field_in_a_sync_query_is_refused_with_invalid_field(
        org: SandboxClient, config: Config) -> None:
    client, recorder = client_with(config)
    with pytest.raises(SyncError, match="INVALID_FIELD"):
        list(client.query_all_pages("SELECT Id, ActionCadenceId FROM Task"))
    [refused] = recorder.queries()
    assert refused.status == 400
    assert mismatches(refused.answer, ERROR_BODY_EXAMPLE) == []
    assert "ActionCadenceId" in refused.answer[0]["message"]


def test_updated_and_deleted_answer_in_the_documented_shape(
        org: SandboxClient, salesforce_client: Salesforce) -> None:
    # the sync reads tombstones through queryAll; these resources are served as documented
    gone = salesforce_client.query("SELECT Id FROM Contact ORDER BY Id LIMIT 1")["records"][0]
    org.set_clock((NOW + timedelta(minutes=30)).isoformat())
    salesforce_client.Contact.delete(gone["Id"])
    end = NOW + timedelta(hours=2)
    org.set_clock(end.isoformat())
    updated = salesforce_client.Contact.updated(NOW - timedelta(days=1), end)
    deleted = salesforce_client.Contact.deleted(NOW - timedelta(days=1), end)
    assert mismatches(updated, UPDATED_EXAMPLE) == []
    assert mismatches(deleted, DELETED_EXAMPLE) == []
    assert [r["id"] for r in deleted["deletedRecords"]] == [gone["Id"]]
    assert all(SALESFORCE_TIME.match(t) for t in (
        updated["latestDateCovered"], deleted["latestDateCovered"],
        deleted["earliestDateAvailable"], deleted["deletedRecords"][0]["deletedDate"]))


def test_a_synced_org_holds_the_documented_cadence_fields(
        org: SandboxClient, config: Config, tmp_path: Path) -> None:
    sync_salesforce(tmp_path / "seqguard.duckdb", config, NOW + timedelta(minutes=5))
    with connect(tmp_path / "seqguard.duckdb") as con:
        trackers = con.execute(
            "select State, IsTrackerActive, CurrentStepId is not null, "
            "LastCompletedStepId is not null from raw_salesforce.ActionCadenceTracker"
        ).fetchall()
        cadence_tasks = con.execute(
            "select count(*) from raw_salesforce.Task where TaskSubtype = 'Cadence'"
        ).fetchall()[0][0]
        task_columns = {r[0] for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'raw_salesforce' and table_name = 'Task'").fetchall()}
    assert trackers == [("Running", True, True, True)] * 2
    assert cadence_tasks == 2   # the first step's emails, as Sales Engagement logs them
    assert "ActionCadenceId" not in task_columns
