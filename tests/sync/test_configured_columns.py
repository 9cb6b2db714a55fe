"""Configured crm.* columns end to end: seqguard.yml `columns:` -> both CRMs' sync ->
the model, and the backfill when a column is added later (sandbox over HTTPS, real
clients, a DuckDB file)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from tasks.core.config import Config, load_config, sandbox_config
from tasks.core.errors import ConfigError
from tasks.model import build_model
from tasks.sync.hubspot.sync import sync_hubspot
from tasks.sync.properties import check_configured_properties
from tasks.sync.salesforce.sync import sync_salesforce

NOW = datetime(2026, 3, 2, 9, 0, 0)
COLUMNS = """\
columns:
  people:
    job_title: {hubspot: jobtitle, salesforce: Title}
  companies:
    industry: {hubspot: industry, salesforce: Industry}
  opportunities:
    deal_type: {hubspot: dealtype, salesforce: Type}
"""


def configured(sandbox, project: Path, text: str) -> Config:
    (project / "seqguard.yml").write_text(text)
    return sandbox_config(sandbox.url, sandbox.cert, load_config(project))


def sync_and_build(db: Path, project: Path, config: Config) -> dict[str, dict]:
    hub = sync_hubspot(db, config, NOW, objects=("contacts", "companies", "deals"))
    sales = sync_salesforce(db, config, NOW,
                            objects=("User", "Account", "Contact", "Lead", "Opportunity"))
    build_model(db, project, config)
    return {"hubspot": hub.backfilled, "salesforce": sales.backfilled}


def rows(db: Path, query: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(query).fetchall()


@pytest.fixture
def crm_records(sandbox) -> None:
    sandbox.reset(now=NOW)
    sandbox.upsert_hubspot("contacts", [
        {"properties": {"email": "ann@uni.example", "jobtitle": "PhD student"}}])
    sandbox.upsert_hubspot("companies", [
        {"properties": {"name": "Uni", "domain": "uni.example",
                        "industry": "EDUCATION_MANAGEMENT"}}])
    sandbox.upsert_hubspot("deals", [{"properties": {
        "dealname": "Campus", "pipeline": "default", "dealstage": "contractsent",
        "dealtype": "newbusiness"}}])
    sandbox.upsert_salesforce("Account", [
        {"Id": "001000000000001AAA", "Name": "College", "Website": "college.example",
         "Industry": "Education Management"}])
    sandbox.upsert_salesforce("Contact", [
        {"Id": "003000000000001AAA", "Email": "bo@college.example", "LastName": "Bo",
         "AccountId": "001000000000001AAA", "Title": "Student intern"}])
    sandbox.upsert_salesforce("Lead", [
        {"Id": "00Q000000000001AAA", "Email": "cy@school.example", "LastName": "Cy",
         "Company": "School", "Title": "Student"}])
    sandbox.upsert_salesforce("Opportunity", [
        {"Id": "006000000000001AAA", "Name": "Renewal", "AccountId": "001000000000001AAA",
         "StageName": "Prospecting", "Type": "Existing Customer - Upgrade"}])


def test_both_crms_feed_one_configured_column_per_concept(sandbox, crm_records,
                                                          tmp_path: Path) -> None:
    db, project = tmp_path / "seqguard.duckdb", tmp_path
    sync_and_build(db, project, configured(sandbox, project, COLUMNS))

    assert rows(db, "select email, job_title from crm.people order by 1") == [
        ("ann@uni.example", "PhD student"), ("bo@college.example", "Student intern"),
        ("cy@school.example", "Student")]
    assert rows(db, "select company_domain, industry from crm.companies order by 1") == [
        ("college.example", "Education Management"), ("uni.example", "EDUCATION_MANAGEMENT")]
    assert rows(db, "select crm, deal_type from crm.opportunities order by 1") == [
        ("hubspot", "newbusiness"), ("salesforce", "Existing Customer - Upgrade")]
    # "people whose job title contains 'student'" is now one line of SQL
    assert rows(db, "select count(*) from crm.people where job_title ilike '%student%'") == [
        (3,)]


def test_a_column_added_later_is_backfilled_for_unchanged_records(sandbox, crm_records,
                                                                   tmp_path: Path) -> None:
    db, project = tmp_path / "seqguard.duckdb", tmp_path
    assert sync_and_build(db, project, configured(sandbox, project, "")) == {
        "hubspot": {}, "salesforce": {}}

    # nothing changed in either CRM since: an incremental sync alone would leave them null
    backfilled = sync_and_build(db, project, configured(sandbox, project, COLUMNS))

    assert backfilled == {"hubspot": {"contacts": ["jobtitle"], "deals": ["dealtype"]},
                          "salesforce": {"Lead": ["Title"], "Opportunity": ["Type"]}}
    assert rows(db, "select count(*) from crm.people where job_title is null") == [(0,)]
    assert rows(db, "select count(*) from crm.opportunities where deal_type is null") == [(0,)]
    # once filled, the next run is incremental again
    assert sync_and_build(db, project, configured(sandbox, project, COLUMNS)) == {
        "hubspot": {}, "salesforce": {}}


def test_a_configured_column_may_not_shadow_a_crm_column(sandbox, crm_records,
                                                         tmp_path: Path) -> None:
    db, project = tmp_path / "seqguard.duckdb", tmp_path
    config = configured(sandbox, project, "columns: {companies: {name: {hubspot: industry}}}\n")
    with pytest.raises(ConfigError, match="columns.companies: 'name' is already a crm.companies"):
        sync_and_build(db, project, config)


def test_a_property_the_crm_lacks_fails_at_start_up_naming_it_and_the_fix(
        sandbox, crm_records, tmp_path: Path) -> None:
    config = configured(sandbox, tmp_path, """\
columns:
  people:
    job_title: {hubspot: jobtitel, salesforce: Title}
crms:
  salesforce: {fields: {Account: [Tier__c]}}
""")
    sandbox.clear_requests()
    started = time.monotonic()
    with pytest.raises(ConfigError) as failed:
        check_configured_properties(config)
    assert str(failed.value) == (
        "seqguard.yml columns.people.job_title.hubspot: HubSpot contacts has no property "
        "'jobtitel'; did you mean 'jobtitle'? (and 1 more: crms.salesforce.fields.Account: "
        "Salesforce Account has no field 'Tier__c'; write the field's internal (API) name "
        "(custom fields end in __c))")
    assert time.monotonic() - started < 5
    # the documented metadata calls only, one per object with configured names
    assert sorted(r["path"].split("?")[0] for r in sandbox.requests()) == [
        "/crm/v3/properties/contacts", "/services/data/v59.0/sobjects/Account/describe",
        "/services/data/v59.0/sobjects/Contact/describe"]


def test_an_object_seqguard_does_not_sync_is_named(sandbox, tmp_path: Path) -> None:
    config = configured(sandbox, tmp_path, "crms:\n  hubspot: {properties: {contact: [x]}}\n")
    with pytest.raises(ConfigError, match=r"crms.hubspot.properties.contact: not an object "
                                          "seqguard syncs; use one of contacts, companies"):
        check_configured_properties(config)
