"""The CRM sync against the sandbox: full, incremental, crash-safe, quarantine, auth errors.

Everything is real: the sandbox server over HTTPS, hubspot-api-client and
simple-salesforce, a DuckDB file under tmp_path.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote_plus

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.core.config import Config, Credential, HubSpotConfig, SalesforceConfig, sandbox_config
from tasks.core.errors import ConfigError
from tasks.sync.hubspot.sync import sync_hubspot
from tasks.sync.salesforce.sync import sync_salesforce

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 9, 0, 0)
HUBSPOT_OBJECTS = ("contacts", "companies", "deals", "emails", "meetings")
SALESFORCE_OBJECTS = ("User", "Account", "Contact", "Lead", "Opportunity",
                      "OpportunityContactRole", "Task", "Event")


def rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every raw table's rows (without _synced_at), sorted: what two runs must agree on."""
    out = {}
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw_hubspot', 'raw_salesforce') order by all").fetchall()
        for schema, table in tables:
            out[f"{schema}.{table}"] = con.execute(
                f'select * exclude (_synced_at) from {schema}."{table}" order by all'
                if table not in ("property_options", "owners", "picklist_options")
                else f'select * from {schema}."{table}" order by all').fetchall()
        out["watermarks"] = con.execute(
            "select crm, object, watermark from ops.sync_state order by all").fetchall()
    return out


@pytest.fixture
def config(sandbox) -> Config:
    return sandbox_config(sandbox.url, sandbox.cert)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "seqguard.duckdb"


def test_full_sync_equals_the_sandbox(sandbox, config, db, hubspot_client, salesforce_client):
    counts = sandbox.reset(seed=11, contacts=400, now=NOW)["counts"]
    hub = sync_hubspot(db, config, NOW)
    sales = sync_salesforce(db, config, NOW)
    assert hub.full and sales.full
    for obj in HUBSPOT_OBJECTS:
        total = hubspot_client.crm.objects.search_api.do_search(
            obj, {"filterGroups": [], "limit": 1}).total
        live = rows(db, f"select count(*) from raw_hubspot.{obj} where not archived")[0][0]
        assert live == total, obj
    assert rows(db, "select count(*) from raw_hubspot.contacts")[0][0] >= counts["hs_contacts"]
    for sobject in SALESFORCE_OBJECTS:
        total = salesforce_client.query(f"SELECT Id FROM {sobject}",
                                        include_deleted=True)["totalSize"]
        assert rows(db, f'select count(*) from raw_salesforce."{sobject}"')[0][0] == total
    # a sample of values, read back through the real clients
    sample = rows(db, "select id, email, lifecyclestage, hubspot_owner_id "
                      "from raw_hubspot.contacts where not archived order by id limit 15")
    for record_id, email, stage, owner in sample:
        record = hubspot_client.crm.contacts.basic_api.get_by_id(
            record_id, properties=["email", "lifecyclestage", "hubspot_owner_id"])
        assert (record.properties.get("email"), record.properties.get("lifecyclestage"),
                record.properties.get("hubspot_owner_id")) == (email, stage, owner)
    soql = "SELECT Id, Email, AccountId, HasOptedOutOfEmail FROM Contact ORDER BY Id LIMIT 15"
    for record in salesforce_client.query(soql)["records"]:
        assert rows(db, 'select Email, AccountId, HasOptedOutOfEmail from raw_salesforce.Contact '
                        'where Id = ?', [record["Id"]]) == [
            (record["Email"], record["AccountId"], record["HasOptedOutOfEmail"])]
    # associations and metadata came along
    contact_id = sample[0][0]
    companies = rows(db, "select to_id from raw_hubspot.associations where from_type = 'contacts' "
                         "and from_id = ? and to_type = 'companies' order by 1", [contact_id])
    page = hubspot_client.crm.associations.v4.basic_api.get_page("contacts", contact_id,
                                                                 "companies")
    assert [r[0] for r in companies] == sorted(str(r.to_object_id) for r in page.results)
    assert rows(db, "select count(*) from raw_hubspot.property_options "
                    "where object_type = 'contacts' and property = 'lifecyclestage'")[0][0] > 0
    assert rows(db, "select count(*) from raw_hubspot.owners")[0][0] > 0
    assert rows(db, "select count(*) from raw_salesforce.picklist_options")[0][0] > 0


def test_incremental_sync_reads_only_what_changed(sandbox, config, db):
    sandbox.reset(seed=12, contacts=300, now=NOW)
    sync_hubspot(db, config, NOW)
    sync_salesforce(db, config, NOW)
    before = snapshot(db)
    later = NOW + timedelta(hours=1)
    sandbox.set_clock(later)
    contact_ids = [r[0] for r in rows(db, "select id from raw_hubspot.contacts where not archived "
                                          "order by id limit 55")]
    changed, deleted = contact_ids[:50], contact_ids[50:]
    sandbox.upsert_hubspot("contacts", [{"id": i, "properties": {"firstname": f"Changed{i}"}}
                                        for i in changed])
    sandbox.upsert_hubspot("contacts", [{"id": i, "archived": True} for i in deleted])
    sf_ids = [r[0] for r in rows(db, "select Id from raw_salesforce.Contact where not IsDeleted "
                                     "order by Id limit 55")]
    assert len(sf_ids) == 55
    sandbox.upsert_salesforce("Contact", [{"Id": i, "LastName": f"Changed{i}"}
                                          for i in sf_ids[:50]])
    sandbox.upsert_salesforce("Contact", [{"Id": i, "IsDeleted": True} for i in sf_ids[50:]])
    sandbox.clear_requests()

    hub = sync_hubspot(db, config, later)
    sales = sync_salesforce(db, config, later)

    assert not hub.full and not sales.full
    log = sandbox.requests()
    full_lists = [e["path"] for e in log if e["method"] == "GET"
                  and e["path"].startswith("/crm/v3/objects/") and "archived=true" not in e["path"]]
    assert full_lists == []  # only searches from the watermark, plus the archived listing
    queries = [unquote_plus(e["path"]) for e in log if "/queryAll" in e["path"]]
    assert queries and all("SystemModstamp >= " in q or "LIMIT 1" in q for q in queries)
    assert hub.objects["contacts"].merged >= 55 and hub.objects["contacts"].deleted == 5
    assert sales.objects["Contact"].deleted == 5
    after = snapshot(db)
    assert rows(db, "select count(*) from raw_hubspot.contacts where firstname like 'Changed%'"
                )[0][0] == 50
    assert sorted(r[0] for r in rows(db, "select id from raw_hubspot.contacts where archived")) \
        == sorted(deleted + [r[0] for r in before["raw_hubspot.contacts"] if r[3]])
    assert rows(db, "select count(*) from raw_salesforce.Contact where LastName like 'Changed%'"
                )[0][0] == 50
    assert rows(db, "select count(*) from raw_salesforce.Contact where IsDeleted and Id in ?",
                [sf_ids[50:]])[0][0] == 5
    # every other row is exactly as it was
    untouched = set(contact_ids)
    assert [r for r in after["raw_hubspot.contacts"] if r[0] not in untouched] == \
        [r for r in before["raw_hubspot.contacts"] if r[0] not in untouched]
    assert [r for r in after["raw_salesforce.Contact"] if r[0] not in set(sf_ids)] == \
        [r for r in before["raw_salesforce.Contact"] if r[0] not in set(sf_ids)]
    assert after["raw_salesforce.Lead"] == before["raw_salesforce.Lead"]


KILLED_SYNC = textwrap.dedent("""
    import sys
    from datetime import datetime
    from tasks.core.config import sandbox_config
    from tasks.sync.hubspot.sync import sync_hubspot

    def progress(obj, n):
        print(obj, n, flush=True)

    sync_hubspot(sys.argv[1], sandbox_config(sys.argv[2], sys.argv[3]),
                 datetime.fromisoformat(sys.argv[4]), progress=progress, max_concurrency=2)
""")


def test_sync_killed_midway_then_rerun_equals_one_clean_run(sandbox, config, tmp_path):
    sandbox.reset(seed=13, contacts=1500, now=NOW)
    killed, clean = tmp_path / "killed.duckdb", tmp_path / "clean.duckdb"
    sandbox.faults(latency_ms=15)  # slow enough to be caught mid-way
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_SYNC, str(killed), sandbox.url, sandbox.cert,
         NOW.isoformat()],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout is not None
    merged_some = False
    for line in child.stdout:
        # kill once some object has been merged and contacts are still paging
        merged_some = merged_some or line.split()[0] in ("deals", "meetings", "companies")
        if merged_some and line.startswith("contacts") and int(line.split()[1]) >= 300:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    sandbox.faults()
    assert child.returncode == -signal.SIGKILL
    sync_hubspot(killed, config, NOW)
    sync_hubspot(clean, config, NOW)
    assert snapshot(killed) == snapshot(clean)
    assert rows(killed, "select count(*) from raw_hubspot.contacts")[0][0] >= 1500


BAD_EMAIL = st.text(alphabet=st.characters(codec="ascii", exclude_characters="@\x00"),
                    min_size=1, max_size=30).filter(lambda s: s.strip() != "")
BAD_NUMBER = st.text(alphabet="abcxyz-/!?", min_size=1, max_size=12)
BAD_TIME = st.sampled_from(["yesterday", "2024-13-45", "31/12/2024", "noon", "T12:00"])


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(emails=st.lists(BAD_EMAIL, min_size=500, max_size=500),
       amounts=st.lists(BAD_NUMBER, min_size=300, max_size=300),
       times=st.lists(BAD_TIME, min_size=200, max_size=200))
def test_1000_fuzzed_bad_records_are_quarantined_and_the_sync_goes_on(
        sandbox, config, tmp_path_factory, emails, amounts, times):
    db = tmp_path_factory.mktemp("fuzz") / "seqguard.duckdb"
    sandbox.reset(seed=14, contacts=200, now=NOW)
    base = 900_000
    sandbox.upsert_hubspot("contacts", [
        {"id": str(base + i), "properties": {"email": e, "firstname": "Fuzz"}}
        for i, e in enumerate(emails)])
    sandbox.upsert_hubspot("deals", [
        {"id": str(base + i), "properties": {"dealname": "Fuzz", "amount": a}}
        for i, a in enumerate(amounts)])
    sandbox.upsert_hubspot("emails", [
        {"id": str(base + i), "properties": {"hs_timestamp": t, "hs_email_subject": "Fuzz"}}
        for i, t in enumerate(times)])

    result = sync_hubspot(db, config, NOW)

    assert result.total("quarantined") == 1000
    reasons = dict(rows(db, "select object || ': ' || reason, count(*) from ops.quarantine "
                            "group by all"))
    assert reasons == {"contacts: not an email: email": 500, "deals: not a number: amount": 300,
                       "emails: unparsable time: hs_timestamp": 200}
    assert rows(db, "select count(*) from ops.quarantine where record_id is null "
                    "or payload is null")[0][0] == 0
    assert rows(db, "select count(*) from raw_hubspot.contacts where firstname = 'Fuzz'")[0][0] == 0
    assert rows(db, "select count(*) from raw_hubspot.contacts")[0][0] > 100  # the rest merged


def test_wrong_token_is_one_line_config_error_without_the_token(sandbox, db):
    sandbox.reset(now=NOW)
    wrong = Config(hubspot=HubSpotConfig(url=sandbox.url, token=Credential(literal="pat-wrong-1"),
                                         ca_cert=sandbox.cert))
    with pytest.raises(ConfigError, match=r"HubSpot rejected the token .*crms\.hubspot\.token") \
            as caught:
        sync_hubspot(db, wrong, NOW)
    assert "\n" not in str(caught.value) and "pat-wrong-1" not in str(caught.value)
    wrong_sf = Config(salesforce=SalesforceConfig(
        url=sandbox.url, session=Credential(literal="00Dwrong!sess"), ca_cert=sandbox.cert))
    with pytest.raises(ConfigError, match=r"Salesforce rejected the session .*INVALID_SESSION_ID") \
            as caught:
        sync_salesforce(db, wrong_sf, NOW)
    assert "\n" not in str(caught.value) and "00Dwrong" not in str(caught.value)
    assert not db.exists() or rows(db, "select count(*) from ops.sync_state")[0][0] == 0


def test_missing_credential_and_unreachable_crm_name_the_setting(sandbox, db, monkeypatch):
    monkeypatch.delenv("SEQGUARD_HUBSPOT_TOKEN", raising=False)
    unset = Config(hubspot=HubSpotConfig(url=sandbox.url, ca_cert=sandbox.cert))
    with pytest.raises(ConfigError, match="crms.hubspot.token: no credential.*SEQGUARD_HUBSPOT"):
        sync_hubspot(db, unset, NOW)
    closed = Config(hubspot=HubSpotConfig(url="https://127.0.0.1:9", ca_cert=sandbox.cert,
                                          token=Credential(literal="sandbox-token")))
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"HubSpot is unreachable at https://127\.0\.0\.1:9 .*"
                                          r"crms\.hubspot\.url"):
        sync_hubspot(db, closed, NOW)
    assert time.monotonic() - started < 15


def test_server_errors_are_retried_and_the_sync_completes(sandbox, config, db):
    sandbox.reset(seed=15, contacts=150, now=NOW)
    sandbox.faults(error_rate=0.25, seed=3)
    try:
        result = sync_hubspot(db, config, NOW)
    finally:
        sandbox.faults()
    statuses = [e["status"] for e in sandbox.requests()]
    assert 502 in statuses
    live = rows(db, "select count(*) from raw_hubspot.contacts where not archived")[0][0]
    assert live == result.objects["contacts"].merged - result.objects["contacts"].deleted


def test_a_millisecond_denser_than_the_search_cap_is_read_by_id_ranges(
        sandbox, config, db, monkeypatch):
    import tasks.sync.hubspot.settings as hubspot_settings

    sandbox.reset(seed=16, contacts=700, now=NOW)
    sync_hubspot(db, config, NOW, objects=("contacts",))
    later = NOW + timedelta(hours=2)
    sandbox.set_clock(later)  # every change below happens in the same millisecond
    ids = [r[0] for r in rows(db, "select id from raw_hubspot.contacts where not archived")]
    sandbox.upsert_hubspot("contacts", [{"id": i, "properties": {"lastname": "Bulk"}}
                                        for i in ids])
    # our side of the cap, lowered so a few hundred records exceed it (the sandbox's stays)
    monkeypatch.setattr(hubspot_settings, "SEARCH_RESULT_CAP", 400)
    sandbox.clear_requests()

    result = sync_hubspot(db, config, later, objects=("contacts",))

    assert result.objects["contacts"].fetched >= len(ids)
    assert rows(db, "select count(*) from raw_hubspot.contacts where not archived "
                    "and lastname is distinct from 'Bulk'")[0][0] == 0
    searches = [e for e in sandbox.requests() if e["path"].endswith("/search")]
    assert all(e["status"] == 200 for e in searches)
