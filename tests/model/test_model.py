"""The crm.* model built from raw snapshot rows (tasks/model.py, sql/model/)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from tasks.core.config import Config
from tasks.core.errors import ConfigError, RuleFileError

EARLY = datetime(2024, 1, 1)
LATER = datetime(2025, 6, 1)
NOW_ = datetime(2026, 3, 2, 9, 0)  # the raw rows' default times (conftest.NOW)
SENT = datetime(2026, 3, 1, 8, 30)


# --- companies -----------------------------------------------------------------------------

def test_three_domain_variants_and_a_duplicate_record_are_one_company(world):
    world.hubspot("companies",
                  {"id": "1", "name": "Acme Inc", "domain": "www.Acme.com", "created_at": EARLY,
                   "lifecyclestage": "lead"},
                  {"id": "2", "name": "ACME", "domain": "https://acme.com/about",
                   "lifecyclestage": "customer"})
    world.salesforce("Account", {"Id": "001A", "Name": "Acme", "Website": "ACME.COM/"})
    world.build()

    company = world.one("select * from crm.companies")
    assert company == {
        "company_domain": "acme.com", "name": "Acme Inc", "aliases": [],
        "hubspot_ids": ["1", "2"], "salesforce_account_ids": ["001A"],
        # folded records say the most advanced stage any of them reached
        "lifecycle_stage": "customer",
    }
    assert world.sql("select * from crm.company_domains") == [("acme.com", "acme.com")]


def test_an_alias_from_the_csv_folds_two_companies(world):
    world.hubspot("companies", {"id": "1", "name": "Acme", "domain": "acme.com"})
    world.salesforce("Account", {"Id": "001B", "Name": "Acme Group",
                                 "Website": "http://www.acme-group.com"})
    world.hubspot("contacts", {"id": "10", "email": "bo@acme-group.com"})
    world.aliases_csv("domain,alias\nACME.com,https://acme-group.com/\n")
    world.build()

    company = world.one("select company_domain, aliases, hubspot_ids, salesforce_account_ids "
                        "from crm.companies")
    assert company == {"company_domain": "acme.com", "aliases": ["acme-group.com"],
                       "hubspot_ids": ["1"], "salesforce_account_ids": ["001B"]}
    assert sorted(world.sql("select * from crm.company_domains")) == [
        ("acme-group.com", "acme.com"), ("acme.com", "acme.com")]
    # a person at the alias works at the company
    assert world.sql("select company_domain from crm.people") == [("acme.com",)]


def test_aliases_that_are_other_records_domains_fold_transitively(world):
    # a lists b as an extra domain; b's record lists c; the csv ties d to c: one company
    world.hubspot("companies",
                  {"id": "1", "domain": "a.com", "hs_additional_domains": "b.com",
                   "created_at": LATER},
                  {"id": "2", "domain": "b.com", "hs_additional_domains": "c.io;www.c.io",
                   "created_at": EARLY})
    world.salesforce("Account", {"Id": "001C", "Website": "c.io"},
                     {"Id": "001E", "Website": "elsewhere.com"})
    world.aliases_csv("domain,alias\nd.org,c.io\n")
    world.build()

    companies = world.rows("select company_domain, aliases, hubspot_ids, salesforce_account_ids "
                           "from crm.companies order by 1")
    assert companies == [
        # a.com is nobody's alias, so the company goes by it
        {"company_domain": "a.com", "aliases": ["b.com", "c.io", "d.org"],
         "hubspot_ids": ["1", "2"], "salesforce_account_ids": ["001C"]},
        {"company_domain": "elsewhere.com", "aliases": [], "hubspot_ids": [],
         "salesforce_account_ids": ["001E"]},
    ]
    assert world.sql("select count(*) from crm.company_domains where company_domain = 'a.com'"
                     ) == [(4,)]


def test_free_mail_domains_never_name_or_fold_companies(world):
    world.hubspot("companies",
                  {"id": "1", "domain": "acme.com", "hs_additional_domains": "gmail.com"},
                  {"id": "2", "domain": "globex.com", "hs_additional_domains": "gmail.com"},
                  {"id": "3", "domain": "gmail.com"})
    world.salesforce("Account", {"Id": "001G", "Website": "globex.com"})
    world.hubspot("contacts", {"id": "10", "email": "ann@gmail.com"},
                  {"id": "11", "email": "bo@gmail.com"})
    world.salesforce("Contact", {"Id": "003B", "Email": "bo@gmail.com", "AccountId": "001G"})
    world.salesforce("Lead", {"Id": "00QC", "Email": "cy@yahoo.com", "Website": "www.initech.com"})
    world.build()

    assert world.sql("select company_domain from crm.companies order by 1") == [
        ("acme.com",), ("globex.com",)]
    people = dict(world.sql("select email, company_domain from crm.people"))
    assert people == {
        "ann@gmail.com": None,           # nothing but a mailbox provider
        "bo@gmail.com": "globex.com",    # the Salesforce Account says where Bo works
        "cy@yahoo.com": "initech.com",   # the lead's website does
    }


def test_domain_aliases_csv_skips_comments_and_blank_lines(world):
    world.hubspot("companies", {"id": "1", "domain": "acme.com"})
    world.aliases_csv("Domain,Alias\n# acme's other domains\n\nacme.com,acme.io\n")
    world.build()
    assert world.sql("select company_domain, aliases from crm.companies") == [
        ("acme.com", ["acme.io"])]


def test_domain_aliases_csv_with_a_bad_domain_names_the_line(world):
    world.aliases_csv("domain,alias\nacme.com,acme.io\nacme.com,not a domain\n")
    with pytest.raises(RuleFileError, match=r"domain_aliases.csv:3: not a company domain"):
        world.build()


def test_domain_aliases_csv_without_its_columns_is_refused(world):
    world.aliases_csv("company,other\nacme.com,acme.io\n")
    with pytest.raises(RuleFileError, match=r"domain_aliases.csv:1: expected the columns"):
        world.build()


# --- people --------------------------------------------------------------------------------

def test_the_same_person_in_both_crms_with_different_email_case_is_one_person(world):
    world._insert("raw_hubspot.owners", [{"id": "7", "email": "Rep@Us.test"}])
    world.salesforce("User", {"Id": "005R", "Email": "sf-rep@us.test"})
    world.hubspot("contacts", {
        "id": "101", "email": "ann@acme.com", "firstname": "Ann", "lastname": None,
        "hubspot_owner_id": "7", "lifecyclestage": "salesqualifiedlead",
        "hs_email_optout": "false", "created_at": LATER, "updated_at": LATER})
    world.salesforce("Contact", {
        "Id": "003A", "Email": "  Ann@ACME.com ", "FirstName": "Annie", "LastName": "Lee",
        "OwnerId": "005R", "HasOptedOutOfEmail": True, "CreatedDate": EARLY,
        "LastModifiedDate": EARLY})
    world.salesforce("Lead", {"Id": "00QA", "Email": "ANN@acme.com", "Status": "Open"})
    world.build()

    assert world.one("select * from crm.people") == {
        "email": "ann@acme.com", "first_name": "Ann", "last_name": "Lee",
        "company_domain": "acme.com", "owner_email": "rep@us.test",
        "lifecycle_stage": "salesqualifiedlead",
        "is_unsubscribed": True,  # opted out in Salesforce only: still unsubscribed
        "is_bounced": False, "hubspot_id": "101", "salesforce_contact_id": "003A",
        "salesforce_lead_id": "00QA", "created_at": EARLY, "updated_at": NOW_,
    }


def test_a_converted_lead_does_not_duplicate_its_contact_but_keeps_its_flags(world):
    world.salesforce("Contact", {"Id": "003A", "Email": "ann@acme.com"})
    world.salesforce("Lead", {
        "Id": "00QA", "Email": "ann.old@acme.com", "IsConverted": True,
        "ConvertedContactId": "003A", "EmailBouncedReason": "550 unknown user"})
    world.build()

    assert world.rows("select email, salesforce_contact_id, salesforce_lead_id, is_bounced "
                      "from crm.people") == [
        {"email": "ann@acme.com", "salesforce_contact_id": "003A", "salesforce_lead_id": None,
         "is_bounced": True}]


def test_bounces_come_from_flags_in_either_crm_and_from_bounced_emails(world):
    world.hubspot("contacts",
                  {"id": "1", "email": "a@acme.com", "hs_email_bad_address": "true"},
                  {"id": "2", "email": "b@acme.com"},
                  {"id": "3", "email": "c@acme.com"},
                  {"id": "4", "email": "d@acme.com", "hs_email_bad_address": "false"})
    world.salesforce("Contact", {"Id": "003B", "Email": "b@acme.com",
                                 "EmailBouncedDate": EARLY})
    world.hubspot("emails", {"id": "900", "hs_email_direction": "EMAIL",
                             "hs_email_from_email": "rep@us.test",
                             "hs_email_to_email": "C@acme.com", "hs_email_status": "BOUNCED"})
    world.build()

    assert world.sql("select email, is_bounced from crm.people order by 1") == [
        ("a@acme.com", True), ("b@acme.com", True), ("c@acme.com", True),
        ("d@acme.com", False)]


def test_tombstones_stay_out_of_the_model(world):
    world.hubspot("contacts", {"id": "1", "email": "gone@acme.com", "archived": True},
                  {"id": "2", "email": "here@acme.com"})
    world.salesforce("Contact", {"Id": "003X", "Email": "gone2@acme.com", "IsDeleted": True})
    world.salesforce("Lead", {"Id": "00QX", "Email": "gone3@acme.com", "IsDeleted": True})
    world.hubspot("companies", {"id": "5", "domain": "acme.com", "archived": True})
    world.salesforce("Account", {"Id": "001X", "Website": "globex.com", "IsDeleted": True})
    world.hubspot("deals", {"id": "8", "dealname": "Old", "dealstage": "contractsent",
                            "archived": True})
    world.salesforce("Opportunity", {"Id": "006X", "Name": "Old", "StageName": "Prospecting",
                                     "IsClosed": False, "IsDeleted": True})
    world.hubspot("emails", {"id": "9", "hs_email_direction": "INCOMING_EMAIL",
                             "hs_email_from_email": "here@acme.com", "archived": True})
    world.salesforce("Task", {"Id": "00TX", "TaskSubtype": "Call", "Status": "Completed",
                              "IsDeleted": True})
    world.build()

    assert world.sql("select email from crm.people") == [("here@acme.com",)]
    for table in ("companies", "company_domains", "opportunities", "engagements"):
        assert world.sql(f"select count(*) from crm.{table}") == [(0,)], table
    # the raw snapshot keeps them
    assert world.sql("select count(*) from raw_hubspot.contacts") == [(2,)]


def test_people_without_a_usable_email_are_left_out(world):
    world.hubspot("contacts", {"id": "1", "email": None}, {"id": "2", "email": "not an email"},
                  {"id": "3", "email": "ok@acme.com"})
    world.build()
    assert world.sql("select email from crm.people") == [("ok@acme.com",)]


def test_custom_properties_become_people_columns(world):
    world.hubspot("contacts", {"id": "1", "email": "a@acme.com",
                               "product_interest": "analytics;crm_sync"})
    config = Config(people_properties=["product_interest"])
    result = world.build(config)
    world.build(config)  # a second build keeps the column and its values

    assert result.custom_columns == ["product_interest"]
    assert world.sql("select email, product_interest from crm.people") == [
        ("a@acme.com", "analytics;crm_sync")]


def test_a_custom_property_comes_from_the_preferred_record_that_has_it(world):
    # a Salesforce custom field, synced as a typed column of the raw Contact table
    world.sql('alter table raw_salesforce.Contact add column "Segment__c" double')
    world.sql("alter table raw_hubspot.contacts add column tier varchar")
    world.hubspot("contacts", {"id": "1", "email": "a@acme.com", "tier": "gold"},
                  {"id": "2", "email": "b@acme.com"})
    world.salesforce("Contact", {"Id": "003A", "Email": "A@acme.com", "Segment__c": 2.5},
                     {"Id": "003B", "Email": "b@acme.com", "Segment__c": 7.0})
    world.build(Config(people_properties=["Segment__c", "tier"]))

    assert world.sql('select email, "Segment__c", tier from crm.people order by 1') == [
        ("a@acme.com", "2.5", "gold"), ("b@acme.com", "7.0", None)]
    # dropped from the config: the column stays, empty, so rules naming it still parse
    world.build(Config(people_properties=["tier"]))
    assert world.sql('select email, "Segment__c", tier from crm.people order by 1') == [
        ("a@acme.com", None, "gold"), ("b@acme.com", None, None)]


def test_a_custom_property_nobody_syncs_is_a_config_error(world):
    with pytest.raises(ConfigError, match="people_properties: 'shoe_size' is not a synced"):
        world.build(Config(people_properties=["shoe_size"]))
    with pytest.raises(ConfigError, match="'email' is already a crm.people column"):
        world.build(Config(people_properties=["email"]))


# --- opportunities -------------------------------------------------------------------------

def test_an_account_without_a_website_goes_by_its_contacts_domain(world):
    """An open Opportunity on such an Account still excludes the company's people."""
    world.salesforce("Account", {"Id": "001N", "Name": "Nameless"})
    world.salesforce("Contact", {"Id": "003N1", "AccountId": "001N", "Email": "a@nameless.io"},
                     {"Id": "003N2", "AccountId": "001N", "Email": "b@Nameless.io"},
                     {"Id": "003N3", "AccountId": "001N", "Email": "c@gmail.com"},
                     {"Id": "003N4", "AccountId": "001N", "Email": "d@other.io"})
    world.salesforce("Opportunity", {"Id": "006N", "Name": "Pilot", "AccountId": "001N",
                                     "StageName": "Prospecting", "IsClosed": False})
    world.build()
    assert world.sql("select company_domain, salesforce_account_ids from crm.companies "
                     "where name = 'Nameless'") == [("nameless.io", ["001N"])]
    assert world.sql("select company_domain from crm.opportunities") == [("nameless.io",)]


def test_a_deal_open_in_hubspot_and_closed_in_salesforce_is_an_open_opportunity(world):
    world.hubspot("companies", {"id": "1", "domain": "acme.com"})
    world.salesforce("Account", {"Id": "001A", "Website": "https://www.acme.com/"})
    world.hubspot("deals", {"id": "50", "dealname": "Acme renewal", "dealstage": "contractsent",
                            "hs_is_closed": "false", "amount": "1200.50",
                            "closedate": "2026-04-01T00:00:00.000Z"})
    world.associate(("deals", "50", "companies", "1"))
    world.salesforce("Opportunity", {
        "Id": "006A", "Name": "Acme renewal", "AccountId": "001A", "StageName": "Closed Lost",
        "IsClosed": True, "IsWon": False, "Amount": 1200.5})
    world.build()

    rows = world.rows("select opportunity_id, crm, stage, is_closed, is_won, amount, close_date, "
                      "company_domain from crm.opportunities order by crm")
    assert rows == [
        {"opportunity_id": "50", "crm": "hubspot", "stage": "contractsent", "is_closed": False,
         "is_won": False, "amount": 1200.5, "close_date": datetime(2026, 4, 1).date(),
         "company_domain": "acme.com"},
        {"opportunity_id": "006A", "crm": "salesforce", "stage": "Closed Lost",
         "is_closed": True, "is_won": False, "amount": 1200.5, "close_date": None,
         "company_domain": "acme.com"},
    ]
    # what the built-in open_opportunity rule selects
    assert world.sql("select distinct company_domain from crm.opportunities "
                     "where not is_closed") == [("acme.com",)]


def test_deal_state_falls_back_to_the_stage_and_company_to_the_contacts(world):
    world.hubspot("contacts", {"id": "10", "email": "ann@globex.com"})
    world.hubspot("deals", {"id": "51", "dealstage": "closedwon"},
                  {"id": "52", "dealstage": "qualifiedtobuy"})
    world.associate(("deals", "51", "contacts", "10"))
    world.salesforce("Contact", {"Id": "003A", "Email": "ANN@globex.com"})
    world.salesforce("Opportunity", {"Id": "006B", "StageName": "Prospecting"})
    world.salesforce("OpportunityContactRole", {"Id": "00KA", "OpportunityId": "006B",
                                                "ContactId": "003A"})
    world.build()

    assert world.sql("select opportunity_id, is_closed, is_won, company_domain "
                     "from crm.opportunities order by 1") == [
        ("006B", False, False, "globex.com"), ("51", True, True, "globex.com"),
        ("52", False, False, None)]
    assert world.sql("select crm, opportunity_id, email from crm.opportunity_contacts "
                     "order by 1") == [("hubspot", "51", "ann@globex.com"),
                                       ("salesforce", "006B", "ann@globex.com")]


# --- engagements ---------------------------------------------------------------------------

def email(id_: str, direction: str, sender: str, to: str, **extra: str) -> dict:
    return {"id": id_, "hs_email_direction": direction, "hs_email_from_email": sender,
            "hs_email_to_email": to, "hs_timestamp": "2026-03-01T08:30:00.000Z", **extra}


def test_out_of_office_replies_are_told_by_headers_or_subject(world):
    world.hubspot("contacts", {"id": "1", "email": "ann@acme.com"})
    world.hubspot(
        "emails",
        email("1", "INCOMING_EMAIL", "ann@acme.com", "rep@us.test", hs_email_subject="Re: hi",
              hs_email_headers='{"Auto-Submitted": "auto-replied"}'),
        email("2", "INCOMING_EMAIL", "ann@acme.com", "rep@us.test", hs_email_subject="Re: hi",
              hs_email_headers='{"X-Autoreply": "yes"}'),
        email("3", "INCOMING_EMAIL", "ann@acme.com", "rep@us.test",
              hs_email_subject="Automatic reply: Pricing"),
        email("4", "INCOMING_EMAIL", "ann@acme.com", "rep@us.test",
              hs_email_subject="OUT OF OFFICE: Re: Pricing"),
        # a real reply may say so in its headers
        email("5", "INCOMING_EMAIL", "ann@acme.com", "rep@us.test", hs_email_subject="Re: hi",
              hs_email_headers='{"Auto-Submitted": "no"}'),
        email("6", "INCOMING_EMAIL", "ann@acme.com", "rep@us.test", hs_email_subject="Re: hi"),
    )
    world.salesforce("Contact", {"Id": "003A", "Email": "ann@acme.com"})
    world.salesforce("Task", {"Id": "00T1", "WhoId": "003A", "TaskSubtype": "Email",
                              "Status": "Completed", "Subject": "Email: Automatic reply: hi"},
                     {"Id": "00T2", "WhoId": "003A", "TaskSubtype": "Email",
                      "Status": "Completed", "Subject": "Email: Re: hi"})
    world.build()

    assert world.sql("select engagement_id, direction, is_ooo from crm.engagements "
                     "order by 1") == [
        ("00T1", "inbound", True), ("00T2", "inbound", False),
        ("email:1", "inbound", True), ("email:2", "inbound", True), ("email:3", "inbound", True),
        ("email:4", "inbound", True), ("email:5", "inbound", False),
        ("email:6", "inbound", False)]


def test_sequencer_sent_emails_carry_their_sequence(world):
    world.salesforce("User", {"Id": "005R", "Email": "Rep@us.test"})
    world.salesforce("Contact", {"Id": "003A", "Email": "bo@acme.com"},
                     {"Id": "003B", "Email": "cy@acme.com"})
    world.hubspot("emails",
                  email("1", "EMAIL", "rep@us.test", "ann@acme.com", hs_sequence_id="seq-7"),
                  email("2", "EMAIL", "rep@us.test", "ann@acme.com", hs_sequence_id=""))
    # a cadence's own email: TaskSubtype 'Cadence' (Task has no cadence field); which
    # cadence is the person's tracker of the time
    world.salesforce("ActionCadenceTracker",
                     {"Id": "0qB1", "TargetId": "003A", "ActionCadenceId": "77C0",
                      "CreatedDate": datetime(2025, 1, 1)},
                     {"Id": "0qB2", "TargetId": "003A", "ActionCadenceId": "77C1",
                      "CreatedDate": datetime(2025, 5, 1)})
    world.salesforce(
        "Task",
        {"Id": "00T1", "WhoId": "003A", "OwnerId": "005R", "TaskSubtype": "Cadence",
         "Type": "Email", "Status": "Completed", "Subject": "Email: Intro",
         "CompletedDateTime": LATER},
        {"Id": "00T2", "WhoId": "003A", "OwnerId": "005R", "TaskSubtype": "Email",
         "Status": "Completed", "Subject": "Email: Pricing"},
        # a cadence's email whose tracker was never read: own activity, cadence unknown
        {"Id": "00T3", "WhoId": "003B", "OwnerId": "005R", "TaskSubtype": "Cadence",
         "Type": "Email", "Status": "Completed", "Subject": "Email: Intro"})
    world.build()

    assert world.rows("select engagement_id, direction, email, from_email, sent_by_sequence, "
                      "occurred_at from crm.engagements order by 1") == [
        {"engagement_id": "00T1", "direction": "outbound", "email": "bo@acme.com",
         "from_email": "rep@us.test", "sent_by_sequence": "77C1", "occurred_at": LATER},
        {"engagement_id": "00T2", "direction": "outbound", "email": "bo@acme.com",
         "from_email": "rep@us.test", "sent_by_sequence": None, "occurred_at": NOW_},
        {"engagement_id": "00T3", "direction": "outbound", "email": "cy@acme.com",
         "from_email": "rep@us.test", "sent_by_sequence": "unknown", "occurred_at": NOW_},
        {"engagement_id": "email:1", "direction": "outbound", "email": "ann@acme.com",
         "from_email": "rep@us.test", "sent_by_sequence": "seq-7", "occurred_at": SENT},
        {"engagement_id": "email:2", "direction": "outbound", "email": "ann@acme.com",
         "from_email": "rep@us.test", "sent_by_sequence": None, "occurred_at": SENT},
    ]


def test_an_email_from_an_alias_is_with_the_person_it_belongs_to(world):
    world.hubspot("contacts", {"id": "1", "email": "ann@acme.com",
                               "hs_additional_emails": "ann.private@gmail.com;ANN@old.com"},
                  {"id": "2", "email": "bo@acme.com"})
    world.hubspot("emails",
                  email("1", "INCOMING_EMAIL", "Ann.Private@gmail.com", "rep@us.test"),
                  # an address nobody has: the contact HubSpot logged it on
                  email("2", "INCOMING_EMAIL", "bo.home@yahoo.com", "rep@us.test"),
                  email("3", "EMAIL", "rep@us.test", "Ann <ann@old.com>; x@y.com"),
                  email("4", "FORWARDED_EMAIL", "rep@us.test", "nobody@else.com"))
    world.associate(("emails", "2", "contacts", "2"))
    world.build()

    assert world.sql("select engagement_id, direction, email, from_email from crm.engagements "
                     "order by 1") == [
        ("email:1", "inbound", "ann@acme.com", "ann.private@gmail.com"),
        ("email:2", "inbound", "bo@acme.com", "bo.home@yahoo.com"),
        ("email:3", "outbound", "ann@acme.com", "rep@us.test"),
        ("email:4", "outbound", "nobody@else.com", "rep@us.test")]


def test_meetings_and_calls_of_both_crms(world):
    world.hubspot("contacts", {"id": "1", "email": "ann@acme.com"})
    world.hubspot("meetings", {"id": "1", "hs_timestamp": "2026-03-10T15:00:00+01:00",
                               "hs_attendee_email": "ANN@acme.com"},
                  {"id": "2", "hs_timestamp": "1767225600000"})
    world.associate(("meetings", "2", "contacts", "1"))
    world.salesforce("Lead", {"Id": "00QL", "Email": "lee@initech.com"})
    world.salesforce("Event", {"Id": "00U1", "WhoId": "00QL", "StartDateTime": LATER})
    world.salesforce("Task", {"Id": "00T1", "WhoId": "00QL", "TaskSubtype": "Call",
                              "Status": "Completed"},
                     # a to-do that has not happened, and a plain task
                     {"Id": "00T2", "WhoId": "00QL", "TaskSubtype": "Email",
                      "Status": "Not Started"},
                     {"Id": "00T3", "WhoId": "00QL", "TaskSubtype": "Task",
                      "Status": "Completed"})
    world.build()

    assert world.sql("select engagement_id, crm, type, direction, email, occurred_at "
                     "from crm.engagements order by 1") == [
        ("00T1", "salesforce", "call", None, "lee@initech.com", NOW_),
        ("00U1", "salesforce", "meeting", None, "lee@initech.com", LATER),
        ("meeting:1", "hubspot", "meeting", None, "ann@acme.com", datetime(2026, 3, 10, 14, 0)),
        ("meeting:2", "hubspot", "meeting", None, "ann@acme.com", datetime(2026, 1, 1, 0, 0)),
    ]


# --- property options ----------------------------------------------------------------------

def test_property_options_of_both_crms_mark_multi_selects(world):
    with_options = [
        {"object_type": "contacts", "property": "lifecyclestage", "type": "enumeration",
         "field_type": "radio", "label": "Customer", "value": "customer", "display_order": 5},
        {"object_type": "contacts", "property": "product_interest", "type": "enumeration",
         "field_type": "checkbox", "label": "CRM Sync", "value": "crm_sync",
         "display_order": 1},
    ]
    world._insert("raw_hubspot.property_options", with_options)
    world._insert("raw_salesforce.picklist_options", [
        {"sobject": "Opportunity", "field": "StageName", "label": "Closed Won",
         "value": "Closed Won"}])
    world.build()

    assert world.sql("select * from crm.property_options order by crm, property") == [
        ("hubspot", "contacts", "lifecyclestage", "Customer", "customer", False),
        ("hubspot", "contacts", "product_interest", "CRM Sync", "crm_sync", True),
        ("salesforce", "Opportunity", "StageName", "Closed Won", "Closed Won", False)]


# --- the build -----------------------------------------------------------------------------

def test_a_rebuild_adds_changes_and_removes_rows_and_reports_counts(world):
    world.hubspot("contacts", {"id": "1", "email": "a@acme.com", "firstname": "Ann"})
    world.hubspot("companies", {"id": "9", "domain": "acme.com"})
    first = world.build()
    world.hubspot("contacts", {"id": "2", "email": "b@acme.com"})
    second = world.build()
    world.sql("update raw_hubspot.contacts set firstname = 'Anna' where id = '1'")
    world.sql("update raw_hubspot.contacts set archived = true where id = '2'")
    world.build()

    assert first.rows["people"] == 1 and second.rows["people"] == 2
    assert set(second.rows) == set(second.table_seconds) == {
        "companies", "company_domains", "engagements", "people", "opportunities",
        "opportunity_contacts", "property_options"}
    assert world.sql("select email, first_name from crm.people") == [("a@acme.com", "Anna")]
    # the tables keep their declared keys
    with pytest.raises(duckdb.ConstraintException, match="(?i)duplicate key"):
        world.sql("insert into crm.people (email) values ('a@acme.com')")
    with pytest.raises(duckdb.ConstraintException, match="(?i)duplicate key"):
        world.sql("insert into crm.companies (company_domain) values ('acme.com')")


def test_every_crm_column_says_where_it_comes_from(world):
    """`seqguard schema` reads these comments; a column added without one is caught here."""
    world.build(Config(people_properties=["product_interest"]))
    assert world.sql("select table_name, column_name from duckdb_columns() "
                     "where schema_name = 'crm' and coalesce(comment, '') = ''") == []
    assert world.sql("select comment from duckdb_columns() where schema_name = 'crm' "
                     "and column_name = 'product_interest'") == [
        ("people_properties: the synced contact property of that name",)]
