"""The sandbox's generated data: deterministic per seed, sized as asked, and as messy as
real CRMs are (each kind of mess the rules must cope with is present)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from sandbox import ids
from sandbox.generate import GENERATED_TABLES, generate, seed_metadata
from sandbox.state import SandboxState

NOW = datetime(2026, 3, 1, 12, 0, 0)
CONTACTS = 2_000

# a domain as seqguard normalizes it: lower case, no scheme, no www., no path
NORMALIZED = "regexp_replace(lower(trim({})), '^(https?://)?(www\\.)?([^/]+).*$', '\\3')"


def fresh_state(threads: int | None = None) -> SandboxState:
    state = SandboxState()
    state.set_clock(NOW)
    if threads:
        state.execute(f"set threads = {threads}")
    seed_metadata(state)
    return state


def generated(seed: int, threads: int | None = None, **sizes: int) -> SandboxState:
    state = fresh_state(threads)
    generate(state, seed=seed, **{"contacts": CONTACTS, **sizes})
    return state


def table_digests(state: SandboxState) -> dict[str, str]:
    """One md5 per table over all its rows, independent of physical row order."""
    tables = (*GENERATED_TABLES, "sb_counters", "hs_properties", "sf_fields", "hs_owners")
    return {
        t: state.rows(f"select md5(string_agg(r::varchar, '\n' order by r::varchar)) as d "
                      f"from {t} r")[0]["d"]
        for t in tables
    }


def one(state: SandboxState, sql: str) -> object:
    return next(iter(state.rows(sql)[0].values()))


@pytest.fixture(scope="module")
def sandbox_data() -> SandboxState:
    return generated(seed=42)


def test_same_seed_gives_identical_rows_whatever_the_thread_count(
        sandbox_data: SandboxState) -> None:
    again = generated(seed=42, threads=1)
    assert table_digests(again) == table_digests(sandbox_data)


def test_another_seed_gives_other_rows(sandbox_data: SandboxState) -> None:
    other = table_digests(generated(seed=43))
    mine = table_digests(sandbox_data)
    changed = [t for t in GENERATED_TABLES if other[t] != mine[t]]
    assert changed == list(GENERATED_TABLES)


def test_sizes_default_to_a_fifth_and_a_tenth_of_contacts(sandbox_data: SandboxState) -> None:
    assert one(sandbox_data, "select count(*) from hs_contacts") == CONTACTS
    assert one(sandbox_data, "select count(*) from hs_companies") == CONTACTS // 5
    assert one(sandbox_data, "select count(*) from hs_deals") == CONTACTS // 10
    assert one(sandbox_data, "select count(*) from sf_opportunity") == CONTACTS // 10 * 8 // 10


def test_explicit_sizes_are_respected() -> None:
    state = fresh_state()
    counts = generate(state, seed=1, contacts=300, companies=17, deals=9)
    assert (counts["hs_contacts"], counts["hs_companies"], counts["hs_deals"]) == (300, 17, 9)
    assert one(state, "select max(id) from hs_contacts") == 300


def test_zero_contacts_generates_nothing() -> None:
    state = fresh_state()
    assert set(generate(state, seed=1, contacts=0).values()) == {0}


def test_bad_sizes_and_a_filled_sandbox_are_refused(sandbox_data: SandboxState) -> None:
    with pytest.raises(ValueError, match="companies >= 1"):
        generate(fresh_state(), seed=1, contacts=10, companies=0)
    with pytest.raises(ValueError, match="sizes must be >= 0"):
        generate(fresh_state(), seed=1, contacts=-1)
    with pytest.raises(ValueError, match="reset it first"):
        generate(sandbox_data, seed=1, contacts=10)
    with pytest.raises(ValueError, match="seed_metadata"):
        generate(SandboxState(), seed=1, contacts=10)


def test_a_failed_generate_leaves_no_rows_or_helpers_behind() -> None:
    state = fresh_state()
    state.execute("alter table sf_event add column MustHave varchar not null default 'x'")
    state.execute("alter table sf_event alter column MustHave drop default")
    with pytest.raises(Exception, match="MustHave"):
        generate(state, seed=1, contacts=100)
    assert one(state, "select count(*) from hs_contacts") == 0
    assert one(state, "select count(*) from duckdb_tables() where table_name like 'g\\_%' "
                      "escape '\\'") == 0


def test_counters_continue_after_every_generated_id(sandbox_data: SandboxState) -> None:
    counters = {r["name"]: r["value"] for r in sandbox_data.rows("select * from sb_counters")}
    for table in ("hs_contacts", "hs_companies", "hs_deals", "hs_emails", "hs_meetings"):
        assert counters[table] == one(sandbox_data, f"select max(id) from {table}") > 0
    for table, sobject in (("sf_contact", "Contact"), ("sf_lead", "Lead"),
                           ("sf_account", "Account"), ("sf_opportunity", "Opportunity"),
                           ("sf_opportunitycontactrole", "OpportunityContactRole"),
                           ("sf_task", "Task"), ("sf_event", "Event"), ("sf_user", "User")):
        top = one(sandbox_data, f"select max(Id) from {table}")
        assert top == ids.salesforce_id(sobject, counters[sobject]), sobject
    assert counters["User"] == counters["hs_owners"] == 8


def test_every_id_is_unique_and_well_formed(sandbox_data: SandboxState) -> None:
    for table in ("sf_contact", "sf_lead", "sf_account", "sf_opportunity", "sf_task"):
        malformed = one(sandbox_data, f"select count(*) from {table} "
                        "where not regexp_full_match(Id, '[0-9A-Za-z]{3}[0-9]{12}[A-Z0-5]{3}')")
        assert malformed == 0, table
        # the last three characters are Salesforce's checksum of the first fifteen
        sample = [r["Id"] for r in sandbox_data.rows(f"select Id from {table} limit 50")]
        assert all(i[15:] == ids.checksum(i[:15]) for i in sample), table
    assert ids.salesforce_id("Lead", 1) == "00Q000000000001EAA"
    assert one(sandbox_data, "select count(*) - count(distinct email) from hs_contacts") == 0


# metadata


def test_every_hubspot_column_has_a_property_and_every_salesforce_column_a_field() -> None:
    state = fresh_state()
    missing = state.rows("""
        select c.table_name, c.column_name from information_schema.columns c
        left join hs_properties p
          on p.object_type = substr(c.table_name, 4) and p.name = c.column_name
        where c.table_name in ('hs_contacts', 'hs_companies', 'hs_deals', 'hs_emails',
                               'hs_meetings')
          and c.column_name not in ('id', 'created_at', 'updated_at', 'archived', 'archived_at')
          and p.name is null""")
    assert missing == []
    fields = {(r["sobject"], r["name"]): r for r in state.rows("select * from sf_fields")}
    columns = state.rows("""
        select table_name, column_name from information_schema.columns
        where table_name like 'sf\\_%' escape '\\' and table_name <> 'sf_fields'""")
    assert len(columns) > 80
    sobjects = {"sf_opportunitycontactrole": "OpportunityContactRole", "sf_user": "User"}
    for col in columns:
        sobject = sobjects.get(col["table_name"], col["table_name"][3:].capitalize())
        assert (sobject, col["column_name"]) in fields, col
    tracker = [n for (s, n) in fields if s == "ActionCadenceTracker"]
    assert set(tracker) == {"Id", "ActionCadenceId", "TargetId", "OwnerId", "State",
                            "CompletionReason", "IsTrackerActive", "CurrentStepId",
                            "LastCompletedStepId", "CreatedDate", "LastModifiedDate",
                            "SystemModstamp", "IsDeleted"}
    assert {n for (s, n) in fields if s == "ActionCadence"} == {
        "Id", "Name", "State", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"}
    assert fields[("ActionCadenceTracker", "CurrentStepId")]["reference_to"] == (
        "ActionCadenceStepTracker")
    assert fields[("Contact", "AccountId")]["type"] == "reference"
    assert fields[("Contact", "AccountId")]["reference_to"] == "Account"
    assert fields[("Contact", "Email")]["type"] == "email"
    assert fields[("Opportunity", "Amount")]["type"] == "currency"
    assert fields[("Opportunity", "CloseDate")]["type"] == "date"
    assert fields[("Lead", "CreatedDate")]["type"] == "datetime"
    assert fields[("Lead", "IsConverted")]["type"] == "boolean"
    assert fields[("Account", "Website")]["type"] == "url"
    assert fields[("Task", "Description")]["type"] == "textarea"


def options(state: SandboxState, obj: str, name: str) -> dict[str, str]:
    row = state.rows("select options from hs_properties where object_type = ? and name = ?",
                     [obj, name])[0]
    return {o["value"]: o["label"] for o in json.loads(row["options"])}


def test_enumeration_labels_differ_from_their_internal_values() -> None:
    state = fresh_state()
    stages = options(state, "contacts", "lifecyclestage")
    assert stages["marketingqualifiedlead"] == "Marketing Qualified Lead"
    assert stages == options(state, "companies", "lifecyclestage")
    assert len(stages) == 8
    deal_stages = options(state, "deals", "dealstage")
    assert deal_stages["decisionmakerboughtin"] == "Decision Maker Bought-In"
    assert options(state, "deals", "pipeline") == {"default": "Sales Pipeline"}
    assert options(state, "emails", "hs_email_direction")["INCOMING_EMAIL"] == "Incoming email"
    assert {"SENT", "BOUNCED", "FAILED"} <= set(options(state, "emails", "hs_email_status"))
    assert set(options(state, "meetings", "hs_meeting_outcome")) == {
        "SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"}
    assert options(state, "contacts", "product_interest")["crm_sync"] == "CRM Sync"
    props = {(r["object_type"], r["name"]): r for r in state.rows("select * from hs_properties")}
    assert props[("contacts", "product_interest")]["field_type"] == "checkbox"
    optout = props[("contacts", "hs_email_optout")]
    assert (optout["type"], optout["field_type"]) == ("bool", "booleancheckbox")
    assert set(options(state, "contacts", "hs_email_bad_address")) == {"true", "false"}
    assert props[("deals", "closedate")]["type"] == "datetime"
    assert props[("emails", "hs_timestamp")]["type"] == "datetime"
    assert props[("deals", "amount")]["type"] == "number"
    differing = [(o, n) for (o, n), r in props.items() if r["type"] == "enumeration"
                 and all(k == v for k, v in options(state, o, n).items())]
    assert differing == []


def test_salesforce_picklists_hold_the_standard_values() -> None:
    state = fresh_state()

    def picklist(sobject: str, name: str) -> list[str]:
        row = state.rows("select picklist from sf_fields where sobject = ? and name = ?",
                         [sobject, name])[0]
        return [v["value"] for v in json.loads(row["picklist"])]

    assert picklist("Opportunity", "StageName") == [
        "Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote",
        "Negotiation/Review", "Closed Won", "Closed Lost"]
    assert "Closed - Converted" in picklist("Lead", "Status")
    assert "Customer - Direct" in picklist("Account", "Type")
    assert picklist("Task", "TaskSubtype") == ["Task", "Email", "LinkedIn", "ListEmail",
                                               "Cadence", "Call"]
    assert picklist("Task", "Status")[:3] == ["Not Started", "In Progress", "Completed"]
    assert "NoMoreSteps" in picklist("ActionCadenceTracker", "CompletionReason")


def test_owners_are_the_same_people_in_both_crms() -> None:
    state = fresh_state()
    pairs = state.rows("""select h.email, u.Id from hs_owners h join sf_user u on u.Email = h.email
                          order by h.id""")
    assert len(pairs) == 8
    assert all(p["email"].endswith("@seqguard-sandbox.test") for p in pairs)


def test_seeding_twice_keeps_one_copy_and_api_edits() -> None:
    state = fresh_state()
    state.execute("update hs_properties set label = 'Edited' where name = 'dealname'")
    before = one(state, "select count(*) from hs_properties")
    seed_metadata(state)
    assert one(state, "select count(*) from hs_properties") == before
    assert one(state, "select count(*) from sf_user") == 8
    assert one(state, "select label from hs_properties where name = 'dealname'") == "Edited"


# the mess


def test_people_are_split_across_crms_with_differently_typed_emails(
        sandbox_data: SandboxState) -> None:
    split = sandbox_data.rows("""
        with sf as (
            select lower(trim(Email)) as email, Email as raw, 'contact' as kind from sf_contact
            union all
            select lower(trim(Email)), Email, 'lead' from sf_lead
        )
        select count(*) filter (where h.email is not null and kind = 'contact') as both_contact,
               count(*) filter (where h.email is not null and kind = 'lead') as both_lead,
               count(*) filter (where h.email is null) as salesforce_only,
               count(*) filter (where raw <> h.email and lower(raw) = h.email) as other_case,
               count(*) filter (where raw <> trim(raw)) as padded
        from sf left join hs_contacts h using (email)""")[0]
    assert split["both_contact"] > CONTACTS * 0.2
    assert split["both_lead"] > CONTACTS * 0.05
    assert split["salesforce_only"] > CONTACTS * 0.05
    assert split["other_case"] > 0 and split["padded"] > 0
    converted = sandbox_data.rows("""
        select count(*) as n from sf_lead l join sf_contact c on c.Id = l.ConvertedContactId
        where l.IsConverted and l.Status = 'Closed - Converted'
          and lower(trim(l.Email)) = lower(trim(c.Email))""")[0]["n"]
    assert converted > 0


def test_some_leads_work_at_a_company_that_has_an_account(sandbox_data: SandboxState) -> None:
    leads = one(sandbox_data, f"""
        select count(*) from sf_lead l join sf_account a
          on {NORMALIZED.format('a.Website')} = split_part(lower(trim(l.Email)), '@', 2)
        where not l.IsConverted""")
    assert leads > 0


def test_company_domains_come_in_variants_and_duplicates(sandbox_data: SandboxState) -> None:
    variants = sandbox_data.rows("""
        select count(*) filter (where domain like 'www.%') as www,
               count(*) filter (where domain <> lower(domain)) as upper_case,
               count(*) filter (where domain like 'https://%/%') as url_with_path,
               count(*) filter (where domain like '%/') as trailing_slash,
               count(*) filter (where hs_additional_domains like '%;%') as several_extra
        from hs_companies""")[0]
    assert all(n > 0 for n in variants.values()), variants
    websites = sandbox_data.rows("""
        select count(*) filter (where Website like 'https://www.%') as https_www,
               count(*) filter (where Website like 'http://%/') as trailing_slash,
               count(*) filter (where Website <> lower(Website)) as upper_case,
               count(*) filter (where Website like 'https://%/%/%') as path
        from sf_account""")[0]
    assert all(n > 0 for n in websites.values()), websites
    duplicates = one(sandbox_data, f"""
        select count(*) from (select {NORMALIZED.format('domain')} as d from hs_companies
                              where domain is not null group by d having count(*) > 1)""")
    assert duplicates >= CONTACTS // 5 * 3 // 100 // 2


def test_deals_are_open_and_closed_in_both_crms_and_disagree_across_them(
        sandbox_data: SandboxState) -> None:
    hubspot = {r["dealstage"]: r["n"] for r in sandbox_data.rows(
        "select dealstage, count(*) as n from hs_deals group by all")}
    assert {"closedwon", "closedlost", "appointmentscheduled"} <= set(hubspot)
    consistent = one(sandbox_data, """
        select count(*) from hs_deals
        where hs_is_closed <> (dealstage in ('closedwon', 'closedlost'))::varchar
           or hs_is_closed_won <> (dealstage = 'closedwon')::varchar""")
    assert consistent == 0
    salesforce = sandbox_data.rows("""
        select count(*) filter (where IsClosed) as closed, count(*) filter (where not IsClosed)
               as open, count(*) filter (where IsClosed <> StageName like 'Closed%') as wrong
        from sf_opportunity""")[0]
    assert salesforce["closed"] > 0 and salesforce["open"] > 0 and salesforce["wrong"] == 0
    disagree = sandbox_data.rows(f"""
        with hs as (
            select {NORMALIZED.format('c.domain')} as domain, d.hs_is_closed = 'true' as closed
            from hs_deals d
            join hs_associations a on a.from_type = 'deals' and a.from_id = d.id
                                  and a.to_type = 'companies'
            join hs_companies c on c.id = a.to_id
        ), sf as (
            select {NORMALIZED.format('a.Website')} as domain, o.IsClosed as closed
            from sf_opportunity o join sf_account a on a.Id = o.AccountId
        )
        select count(*) filter (where not hs.closed and sf.closed) as open_here_closed_there,
               count(*) filter (where hs.closed and not sf.closed) as closed_here_open_there
        from hs join sf using (domain)""")[0]
    assert disagree["open_here_closed_there"] > 0 and disagree["closed_here_open_there"] > 0


def test_deals_have_companies_and_contacts_and_opportunities_contact_roles(
        sandbox_data: SandboxState) -> None:
    unassociated = one(sandbox_data, """
        select count(*) from hs_deals d where not exists (
            select 1 from hs_associations a where a.from_type = 'deals' and a.from_id = d.id
              and a.to_type = 'companies')""")
    assert unassociated == 0
    with_contacts = one(sandbox_data, """select count(distinct from_id) from hs_associations
                                         where from_type = 'deals' and to_type = 'contacts'""")
    assert with_contacts > CONTACTS // 10 // 2
    roles = sandbox_data.rows("""
        select count(*) as n, count(*) filter (where c.AccountId = o.AccountId) as same_account,
               count(*) filter (where r.IsPrimary) as primary_roles
        from sf_opportunitycontactrole r join sf_opportunity o on o.Id = r.OpportunityId
        join sf_contact c on c.Id = r.ContactId""")[0]
    assert roles["n"] > 0 and roles["same_account"] == roles["n"] and roles["primary_roles"] > 0
    orphans = one(sandbox_data, """select count(*) from sf_opportunity o
                                   left join sf_account a on a.Id = o.AccountId
                                   where a.Id is null""")
    assert orphans == 0


def test_stages_and_multi_selects_hold_internal_values(sandbox_data: SandboxState) -> None:
    stage_values = set(options(sandbox_data, "contacts", "lifecyclestage"))
    used = {r["v"] for r in sandbox_data.rows(
        "select distinct lifecyclestage as v from hs_contacts where lifecyclestage is not null")}
    assert used and used <= stage_values
    assert "customer" in used
    interest = set(options(sandbox_data, "contacts", "product_interest"))
    picked = {r["v"] for r in sandbox_data.rows(
        "select distinct unnest(string_split(product_interest, ';')) as v from hs_contacts")}
    assert picked == interest
    assert one(sandbox_data, "select count(*) from hs_contacts "
                             "where product_interest like '%;%'") > 0
    deal_stages = set(options(sandbox_data, "deals", "dealstage"))
    assert {r["v"] for r in sandbox_data.rows(
        "select distinct dealstage as v from hs_deals")} <= deal_stages


def test_unsubscribes_and_bounces_appear_in_both_crms(sandbox_data: SandboxState) -> None:
    flags = sandbox_data.rows("""
        select (select count(*) from hs_contacts where hs_email_optout = 'true') as hs_optout,
               (select count(*) from hs_contacts where hs_email_bad_address = 'true') as hs_bad,
               (select count(*) from sf_contact where HasOptedOutOfEmail) as sf_optout,
               (select count(*) from sf_lead where HasOptedOutOfEmail) as lead_optout,
               (select count(*) from sf_contact where EmailBouncedReason is not null
                  and EmailBouncedDate is not null) as sf_bounced,
               (select count(*) from hs_emails where hs_email_status = 'BOUNCED'
                  and hs_email_direction = 'EMAIL') as bounce_emails""")[0]
    assert all(n > 0 for n in flags.values()), flags
    bounced_to_bad = one(sandbox_data, """
        select count(*) from hs_emails e join hs_contacts c on c.email = e.hs_email_to_email
        where e.hs_email_status = 'BOUNCED' and c.hs_email_bad_address = 'true'""")
    assert bounced_to_bad == flags["bounce_emails"]


def test_replies_out_of_office_and_manual_emails_are_all_there(
        sandbox_data: SandboxState) -> None:
    kinds = sandbox_data.rows("""
        select count(*) filter (where hs_email_direction = 'INCOMING_EMAIL'
                                and hs_email_subject like 'Re: %'
                                and coalesce(hs_email_headers, '') not like '%auto-replied%'
                                and coalesce(hs_email_headers, '') not like '%X-Autoreply%')
                   as replies,
               count(*) filter (where hs_email_subject like 'Automatic reply:%') as ooo_subject,
               count(*) filter (where hs_email_subject like 'Out of Office%') as ooo_subject_2,
               count(*) filter (where hs_email_headers->>'Auto-Submitted' = 'auto-replied')
                   as ooo_auto_submitted,
               count(*) filter (where hs_email_headers->>'X-Autoreply' is not null)
                   as ooo_x_autoreply,
               count(*) filter (where hs_email_direction = 'EMAIL' and hs_sequence_id is null
                                and hs_email_status = 'SENT') as manual_outbound,
               count(*) filter (where hs_email_direction = 'FORWARDED_EMAIL') as forwarded
        from hs_emails""")[0]
    assert all(n > 0 for n in kinds.values()), kinds
    from_contact = one(sandbox_data, """
        select count(*) from hs_emails e
        join hs_associations a on a.from_type = 'emails' and a.from_id = e.id
        join hs_contacts c on c.id = a.to_id
        where e.hs_email_direction = 'INCOMING_EMAIL'
          and e.hs_email_from_email not in (c.email, split_part(c.hs_additional_emails, ';', 1))""")
    assert from_contact == 0
    from_alias = one(sandbox_data, """
        select count(*) from hs_emails e join hs_contacts c
          on e.hs_email_from_email = split_part(c.hs_additional_emails, ';', 1)""")
    assert from_alias > 0


def test_every_engagement_is_associated_to_its_contact(sandbox_data: SandboxState) -> None:
    emails = one(sandbox_data, """
        select count(*) from hs_emails e
        left join hs_associations a on a.from_type = 'emails' and a.from_id = e.id
                                   and a.to_type = 'contacts'
        left join hs_contacts c on c.id = a.to_id
        where c.id is null
           or (c.email not in (e.hs_email_to_email, e.hs_email_from_email)
               and coalesce(split_part(c.hs_additional_emails, ';', 1), '')
                   not in (e.hs_email_to_email, e.hs_email_from_email))""")
    assert emails == 0
    meetings = one(sandbox_data, """
        select count(*) from hs_meetings m
        left join hs_associations a on a.from_type = 'meetings' and a.from_id = m.id
                                   and a.to_type = 'contacts'
        left join hs_contacts c on c.id = a.to_id
        where c.id is null or c.email <> m.hs_attendee_email""")
    assert meetings == 0
    with_company = one(sandbox_data, """select count(distinct from_id) from hs_associations
                                        where from_type = 'contacts' and to_type = 'companies'""")
    assert CONTACTS * 0.9 < with_company < CONTACTS


def test_meetings_events_and_tasks_exist(sandbox_data: SandboxState) -> None:
    outcomes = {r["v"] for r in sandbox_data.rows(
        "select distinct hs_meeting_outcome as v from hs_meetings")}
    assert outcomes == {"SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"}
    assert one(sandbox_data, """select count(*) from sf_event e join sf_contact c
                                on c.Id = e.WhoId where e.EndDateTime > e.StartDateTime""") > 0
    subtypes = {r["v"] for r in sandbox_data.rows("select distinct TaskSubtype as v from sf_task")}
    assert subtypes == {"Call", "Email", "Task"}
    assert one(sandbox_data, "select count(*) from sf_task t join sf_lead l on l.Id = t.WhoId") > 0


def test_timestamps_span_two_years_before_now(sandbox_data: SandboxState) -> None:
    two_years_ago = NOW - timedelta(days=731)
    for table in ("hs_contacts", "hs_companies", "hs_deals", "hs_emails", "hs_meetings"):
        row = sandbox_data.rows(f"""select min(created_at) as lo, max(updated_at) as hi,
                                          count(*) filter (where updated_at < created_at) as bad
                                   from {table}""")[0]
        assert two_years_ago <= row["lo"] < NOW - timedelta(days=300), table
        assert NOW - timedelta(days=30) < row["hi"] <= NOW and row["bad"] == 0, table
    for table in ("sf_contact", "sf_lead", "sf_account", "sf_opportunity", "sf_task", "sf_event"):
        row = sandbox_data.rows(f"""select min(CreatedDate) as lo, max(SystemModstamp) as hi,
                                          count(*) filter (where LastModifiedDate < CreatedDate
                                                           or SystemModstamp <> LastModifiedDate)
                                              as bad
                                   from {table}""")[0]
        assert two_years_ago <= row["lo"] and row["hi"] <= NOW and row["bad"] == 0, table
    iso = one(sandbox_data, "select hs_timestamp from hs_emails limit 1")
    assert isinstance(iso, str) and iso.endswith(".000Z")
    assert datetime.fromisoformat(iso.replace("Z", "")) <= NOW


# over HTTP, as the app serves it


def test_reset_generates_data_the_hubspot_client_pages_through(sandbox, hubspot_client) -> None:
    counts = sandbox.reset(seed=5, contacts=500, now=NOW)["counts"]
    assert counts["hs_contacts"] == 500 and counts["hs_companies"] == 100
    api = hubspot_client.crm.contacts.basic_api
    properties = hubspot_client.crm.properties.core_api
    try:
        first = api.get_page(limit=100, properties=["email", "lifecyclestage"])
        assert len(first.results) == 100 and first.paging.next.after  # an opaque token
        second = api.get_page(limit=100, after=first.paging.next.after)
        assert second.results[0].id == "101"
        stage = properties.get_by_name("contacts", "lifecyclestage")
        labels = {o.value: o.label for o in stage.options}
        assert labels["salesqualifiedlead"] == "Sales Qualified Lead"
    finally:
        # idle keep-alive connections would hold up the server's shutdown
        for client in (api, properties):
            client.api_client.rest_client.pool_manager.clear()
    assert sandbox.reset()["counts"]["hs_contacts"] == 0
