"""The model over the sandbox generator's messy data (both CRMs, as a full sync leaves it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from model_support import copy_to_raw, generated_state

from tasks.model import ModelResult, build_model


@pytest.fixture(scope="module")
def modeled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ModelResult]]:
    root = tmp_path_factory.mktemp("generated")
    state = generated_state(2000, seed=11)
    copy_to_raw(state, root / "db.duckdb")
    state.con.close()
    yield root / "db.duckdb", build_model(root / "db.duckdb", root, None)


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_live_address_of_either_crm_is_exactly_one_person(modeled):
    db, result = modeled
    assert query(db, """
        with addresses as (
            select crm.normalize_email(email) as email from raw_hubspot.contacts
            where not archived
            union select crm.normalize_email(Email) from raw_salesforce.Contact
            where not IsDeleted
            union select crm.normalize_email(Email) from raw_salesforce.Lead
            where not IsDeleted and not IsConverted
        )
        select count(*) from addresses full join crm.people using (email)
        where addresses.email is null or people.email is null""") == [(0,)]
    assert result.rows["people"] == query(db, "select count(*) from crm.people")[0][0]
    # people typed differently in the two CRMs are one row with both ids
    assert query(db, "select count(*) > 100 from crm.people where hubspot_id is not null "
                     "and salesforce_contact_id is not null") == [(True,)]


def test_every_company_record_lands_in_exactly_one_company(modeled):
    db, _ = modeled
    records = query(db, """
        select count(*) from raw_hubspot.companies
        where not archived and crm.normalize_domain(domain) is not null""")[0][0]
    folded = query(db, "select count(*), count(distinct hid) "
                       "from crm.companies, unnest(hubspot_ids) as u(hid)")
    assert folded == [(records, records)]
    # duplicates and domain variants folded: fewer companies than records
    assert query(db, "select count(*) from crm.companies where len(hubspot_ids) > 1")[0][0] > 0
    assert query(db, """
        select count(*) from raw_salesforce.Account
        where not IsDeleted and crm.normalize_domain(Website) not in
            (select domain from crm.company_domains)""") == [(0,)]


def test_the_generators_mirrored_deals_make_companies_with_an_open_opportunity(modeled):
    db, _ = modeled
    assert query(db, """
        select count(*) > 0 from crm.companies as c
        where exists (select 1 from crm.opportunities as o where o.crm = 'hubspot'
                      and not o.is_closed and o.company_domain = c.company_domain)
          and exists (select 1 from crm.opportunities as o where o.crm = 'salesforce'
                      and o.is_closed and o.company_domain = c.company_domain)""") == [(True,)]


def test_out_of_office_replies_and_bounces_are_flagged(modeled):
    db, _ = modeled
    assert query(db, """
        select count(*) filter (where g.is_ooo),
               count(*) filter (where not g.is_ooo and (e.hs_email_subject like 'Automatic reply%'
                                or e.hs_email_headers like '%auto-replied%')),
               count(*) filter (where g.is_ooo and e.hs_email_headers like '%"no"%')
        from crm.engagements as g
        join raw_hubspot.emails as e on g.engagement_id = 'email:' || e.id""")[0][1:] == (0, 0)
    assert query(db, "select count(*) > 0 from crm.engagements where is_bounce") == [(True,)]


def test_a_rebuild_of_unchanged_raw_data_changes_nothing(modeled, tmp_path):
    db, _ = modeled
    tables = ("people", "companies", "company_domains", "engagements", "opportunities",
              "opportunity_contacts", "property_options")

    def fingerprint() -> list[tuple]:
        return [query(db, f"select count(*), sum(hash(t)) from crm.{t} as t")[0]
                for t in tables]

    before = fingerprint()
    build_model(db, tmp_path, None)
    assert fingerprint() == before
