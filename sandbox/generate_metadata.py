"""The metadata an empty sandbox already has: HubSpot properties, Salesforce fields, owners.

Real CRM accounts never start blank: every object has its property/field definitions
(enumerations whose labels differ from their internal values, picklists, reference
fields) and a few sales reps who own records in both CRMs. seqguard's sync reads these,
and its lint compares rule literals with them, so they are seeded on every reset.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

import pyarrow as pa

from sandbox.ids import salesforce_id
from sandbox.state import SandboxState

HUBSPOT_OBJECTS = ("contacts", "companies", "deals", "emails", "meetings")
# the record columns every hs_* table has; the API derives createdate etc. from them
HUBSPOT_RECORD_COLUMNS = ("id", "created_at", "updated_at", "archived", "archived_at")

SALESFORCE_TABLES = {
    "sf_user": "User",
    "sf_account": "Account",
    "sf_contact": "Contact",
    "sf_lead": "Lead",
    "sf_opportunity": "Opportunity",
    "sf_opportunitycontactrole": "OpportunityContactRole",
    "sf_task": "Task",
    "sf_event": "Event",
}

# the sales reps: owners in HubSpot and Users in Salesforce, same emails in both
OWNERS = (
    ("Avery", "Nguyen"), ("Blake", "Okafor"), ("Casey", "Lindqvist"), ("Dana", "Moreau"),
    ("Emery", "Castillo"), ("Finley", "Novak"), ("Gray", "Haddad"), ("Harper", "Sato"),
)
OWNER_DOMAIN = "seqguard-sandbox.test"
HUBSPOT_OWNER_BASE = 81_000_000  # owner ids look like HubSpot's (8 digits)
HUBSPOT_USER_BASE = 5_100_000


def owner_email(first: str, last: str) -> str:
    return f"{first.lower()}.{last.lower()}@{OWNER_DOMAIN}"


def _options(pairs: list[tuple[str, str]]) -> list[dict]:
    """HubSpot enumeration options from (value, label) pairs, in display order."""
    return [
        {"label": label, "value": value, "displayOrder": i, "hidden": False}
        for i, (value, label) in enumerate(pairs)
    ]


LIFECYCLE_STAGES = [
    ("subscriber", "Subscriber"), ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"), ("opportunity", "Opportunity"),
    ("customer", "Customer"), ("evangelist", "Evangelist"), ("other", "Other"),
]
DEAL_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled"), ("qualifiedtobuy", "Qualified To Buy"),
    ("presentationscheduled", "Presentation Scheduled"),
    ("decisionmakerboughtin", "Decision Maker Bought-In"), ("contractsent", "Contract Sent"),
    ("closedwon", "Closed Won"), ("closedlost", "Closed Lost"),
]
PRODUCT_INTERESTS = [
    ("analytics", "Analytics"), ("crm_sync", "CRM Sync"), ("ai_assist", "AI Assist"),
    ("data_enrichment", "Data Enrichment"), ("api_access", "API Access"),
]
INDUSTRIES = [
    ("COMPUTER_SOFTWARE", "Computer Software"), ("FINANCIAL_SERVICES", "Financial Services"),
    ("HOSPITAL_HEALTH_CARE", "Hospital & Health Care"), ("RETAIL", "Retail"),
    ("MARKETING_AND_ADVERTISING", "Marketing and Advertising"),
    ("LOGISTICS_AND_SUPPLY_CHAIN", "Logistics and Supply Chain"),
    ("EDUCATION_MANAGEMENT", "Education Management"), ("MANUFACTURING", "Manufacturing"),
]
BOOLEAN_OPTIONS = [("true", "Yes"), ("false", "No")]


@dataclass(frozen=True)
class HubSpotProperty:
    label: str
    type: str = "string"
    field_type: str = "text"
    group: str = "sandbox"
    options: tuple[tuple[str, str], ...] = ()


def _enum(label: str, options: list[tuple[str, str]], field_type: str = "select",
          group: str = "sandbox") -> HubSpotProperty:
    return HubSpotProperty(label, "enumeration", field_type, group, tuple(options))


def _bool(label: str, group: str = "sandbox") -> HubSpotProperty:
    return HubSpotProperty(label, "bool", "booleancheckbox", group, tuple(BOOLEAN_OPTIONS))


# HubSpot's calculated contact properties about sequences, with their real names, labels
# and types (https://knowledge.hubspot.com/properties/hubspots-default-contact-properties,
# "Sequences"); the sandbox sequencer keeps them up to date (refresh_contact_flags)
SEQUENCE_GROUP = "sales_properties"
SEQUENCE_PROPERTIES: dict[tuple[str, str], HubSpotProperty] = {
    ("contacts", "hs_sequences_is_enrolled"): _bool("Currently in Sequence", SEQUENCE_GROUP),
    **{("contacts", name): HubSpotProperty(label, "number", "number", SEQUENCE_GROUP)
       for name, label in (
           ("hs_sequences_actively_enrolled_count", "Number of sequences actively enrolled"),
           ("hs_sequences_enrolled_count", "Number of sequences enrolled"),
           ("hs_latest_sequence_enrolled", "Last sequence enrolled"))},
    **{("contacts", name): HubSpotProperty(label, "datetime", "date", SEQUENCE_GROUP)
       for name, label in (
           ("hs_latest_sequence_enrolled_date", "Last sequence enrolled date"),
           ("hs_latest_sequence_unenrolled_date", "Last sequence unenrolled date"),
           ("hs_latest_sequence_finished_date", "Last sequence finished date"),
           ("hs_latest_sequence_ended_date", "Last sequence ended date"))},
}

# per (object, property): what differs from a plain text property; the owner property
# gets the owners as options at seed time, as HubSpot lists them
HUBSPOT_PROPERTIES: dict[tuple[str, str], HubSpotProperty] = {
    ("contacts", "email"): HubSpotProperty("Email", group="contactinformation"),
    ("contacts", "firstname"): HubSpotProperty("First Name", group="contactinformation"),
    ("contacts", "lastname"): HubSpotProperty("Last Name", group="contactinformation"),
    ("contacts", "company"): HubSpotProperty("Company Name", group="contactinformation"),
    ("contacts", "website"): HubSpotProperty("Website URL", group="contactinformation"),
    ("contacts", "lifecyclestage"): _enum(
        "Lifecycle Stage", LIFECYCLE_STAGES, "radio", "contactinformation"),
    ("contacts", "hs_email_optout"): _bool("Unsubscribed from all email", "emailinformation"),
    ("contacts", "hs_email_bad_address"): _bool("Invalid email address", "emailinformation"),
    ("contacts", "hs_additional_emails"): HubSpotProperty(
        "Additional email addresses", field_type="textarea", group="contactinformation"),
    ("contacts", "product_interest"): _enum("Product interest", PRODUCT_INTERESTS, "checkbox"),
    # default properties (https://knowledge.hubspot.com/properties/hubspots-default-contact-
    # properties "Job Title"; .../hubspots-default-deal-properties "Deal Type")
    ("contacts", "jobtitle"): HubSpotProperty("Job Title", group="contactinformation"),
    **SEQUENCE_PROPERTIES,
    ("companies", "name"): HubSpotProperty("Company name", group="companyinformation"),
    ("companies", "domain"): HubSpotProperty("Company Domain Name", group="companyinformation"),
    ("companies", "hs_additional_domains"): HubSpotProperty(
        "Additional Domains", field_type="textarea", group="companyinformation"),
    ("companies", "lifecyclestage"): _enum(
        "Lifecycle Stage", LIFECYCLE_STAGES, "radio", "companyinformation"),
    ("companies", "industry"): _enum("Industry", INDUSTRIES, "select", "companyinformation"),
    ("deals", "dealname"): HubSpotProperty("Deal Name", group="dealinformation"),
    ("deals", "pipeline"): _enum(
        "Pipeline", [("default", "Sales Pipeline")], "select", "dealinformation"),
    ("deals", "dealstage"): _enum("Deal Stage", DEAL_STAGES, "radio", "dealinformation"),
    ("deals", "amount"): HubSpotProperty("Amount", "number", "number", "dealinformation"),
    ("deals", "closedate"): HubSpotProperty("Close Date", "datetime", "date", "dealinformation"),
    ("deals", "hs_is_closed"): _bool("Is Deal Closed?", "dealinformation"),
    ("deals", "hs_is_closed_won"): _bool("Is closed won", "dealinformation"),
    ("deals", "dealtype"): _enum("Deal Type", [
        ("newbusiness", "New Business"), ("existingbusiness", "Existing Business")],
        "radio", "dealinformation"),
    ("emails", "hs_timestamp"): HubSpotProperty("Activity date", "datetime", "date", "email"),
    ("emails", "hs_email_direction"): _enum("Email direction", [
        ("EMAIL", "Email"), ("INCOMING_EMAIL", "Incoming email"),
        ("FORWARDED_EMAIL", "Forwarded email")], "select", "email"),
    ("emails", "hs_email_from_email"): HubSpotProperty("From", group="email"),
    ("emails", "hs_email_to_email"): HubSpotProperty("To", group="email"),
    ("emails", "hs_email_subject"): HubSpotProperty("Email subject", group="email"),
    ("emails", "hs_email_headers"): HubSpotProperty(
        "Email headers", field_type="textarea", group="email"),
    ("emails", "hs_email_status"): _enum("Email send status", [
        ("SENT", "Sent"), ("BOUNCED", "Bounced"), ("FAILED", "Failed"),
        ("SCHEDULED", "Scheduled"), ("SENDING", "Sending")], "select", "email"),
    ("emails", "hs_sequence_id"): HubSpotProperty("Sequence ID", group="email"),
    ("meetings", "hs_timestamp"): HubSpotProperty(
        "Activity date", "datetime", "date", "meeting"),
    ("meetings", "hs_meeting_title"): HubSpotProperty("Meeting name", group="meeting"),
    ("meetings", "hs_meeting_outcome"): _enum("Meeting outcome", [
        ("SCHEDULED", "Scheduled"), ("COMPLETED", "Completed"),
        ("RESCHEDULED", "Rescheduled"), ("NO_SHOW", "No Show"), ("CANCELED", "Canceled")],
        "select", "meeting"),
    ("meetings", "hs_attendee_email"): HubSpotProperty("Attendee email", group="meeting"),
}


def _picklist(values: list[str], default: str | None = None) -> list[dict]:
    return [
        {"label": v, "value": v, "active": True, "defaultValue": v == default} for v in values
    ]


SALESFORCE_PICKLISTS: dict[tuple[str, str], list[dict]] = {
    ("Opportunity", "StageName"): _picklist([
        "Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote",
        "Negotiation/Review", "Closed Won", "Closed Lost"]),
    ("Lead", "Status"): _picklist([
        "Open - Not Contacted", "Working - Contacted", "Closed - Converted",
        "Closed - Not Converted"], default="Open - Not Contacted"),
    ("Account", "Type"): _picklist([
        "Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"]),
    ("Account", "Industry"): _picklist([label for _, label in INDUSTRIES]),
    # Opportunity.Type in the Object Reference (standard values of a new org)
    ("Opportunity", "Type"): _picklist([
        "Existing Customer - Upgrade", "Existing Customer - Replacement",
        "Existing Customer - Downgrade", "New Customer"]),
    # Task in the Object Reference: 'Cadence' is Sales Engagement's own, never set by hand
    ("Task", "TaskSubtype"): _picklist(["Task", "Email", "LinkedIn", "ListEmail", "Cadence",
                                        "Call"]),
    ("Task", "Status"): _picklist(["Not Started", "In Progress", "Completed", "Waiting on "
                                   "someone else", "Deferred"], default="Not Started"),
    ("Task", "Type"): _picklist(["Call", "Email", "Meeting", "Other"]),
    ("OpportunityContactRole", "Role"): _picklist([
        "Business User", "Decision Maker", "Economic Buyer", "Evaluator", "Influencer",
        "Other"]),
    # the cadence objects' picklists as the Object Reference lists them
    ("ActionCadence", "State"): _picklist(["Active", "Deleting", "Draft", "Error", "Inactive"]),
    ("ActionCadenceStep", "Type"): _picklist([
        "Root", "AutoSendAnEmail", "Branch", "CreateTask", "DaisyChain", "LinkedInConnection",
        "LinkedInMail", "ListenerBranch", "MakeACall", "PlatformScreenFlowRoot", "SendAnEmail",
        "Wait"]),
    ("ActionCadenceStep", "GraphState"): _picklist(["Included", "Orphaned", "Pending",
                                                    "Retired"]),
    ("ActionCadenceTracker", "State"): _picklist([
        "Complete", "Error", "Initializing", "Paused", "Processing", "Running"]),
    ("ActionCadenceTracker", "CompletionReason"): _picklist([
        "AutomaticallyExited", "AutomaticallyExitedDeletedStep",
        "AutomaticallyExitedInvalidParentStep", "DaisyChained", "LeadConverted",
        "ManuallyRemoved", "ManuallyRemovedNoAccess", "NoMoreSteps"]),
    ("ActionCadenceStepTracker", "State"): _picklist([
        "Active", "Cancelled", "Completed", "Error", "InProgress", "Paused", "Queued",
        "Scheduled"]),
    ("ActionCadenceStepTracker", "CompletionReason"): _picklist([
        "AutomaticallyCompleted", "AutomaticallyExited", "ManuallyCompleted",
        "ManuallySkipped"]),
    ("ActionCadenceStepTracker", "StepType"): _picklist([
        "AutoSendAnEmail", "Branch", "CreateTask", "DaisyChain", "LinkedInConnection",
        "LinkedInMail", "ListenerBranch", "MakeACall", "PlatformScreenFlowRoot", "Root",
        "SendAnEmail", "SubRoot", "Wait"]),
}

# reference fields: what they point to (comma-separated when polymorphic)
SALESFORCE_REFERENCES = {
    "AccountId": "Account", "OwnerId": "User", "ContactId": "Contact",
    "OpportunityId": "Opportunity", "ConvertedContactId": "Contact", "WhoId": "Contact,Lead",
    "WhatId": "Account,Opportunity", "ActionCadenceId": "ActionCadence",
    "TargetId": "Contact,Lead", "RootStepId": "ActionCadenceStep",
    "ActionCadenceStepId": "ActionCadenceStep", "ActionCadenceTrackerId": "ActionCadenceTracker",
    "CurrentStepId": "ActionCadenceStepTracker", "LastCompletedStepId": "ActionCadenceStepTracker",
}
SALESFORCE_SPECIAL_TYPES = {
    "Email": "email", "Username": "email", "Website": "url", "Description": "textarea",
    "Amount": "currency",
}
# the sequencer's tables serve the cadence sObjects (sandbox/salesforce_cadences.py): their
# fields, typed as the Object Reference types them
_RECORD_FIELDS = [("Id", "id"), ("IsDeleted", "boolean"), ("CreatedDate", "datetime"),
                  ("LastModifiedDate", "datetime"), ("SystemModstamp", "datetime")]
CADENCE_FIELDS = {
    "ActionCadence": _RECORD_FIELDS + [("Name", "string"), ("State", "picklist")],
    "ActionCadenceStep": _RECORD_FIELDS + [
        ("ActionCadenceId", "reference"), ("StepName", "string"), ("ParentStepName", "string"),
        ("RootStepId", "reference"), ("StepTitle", "string"), ("Type", "picklist"),
        ("IsOrphan", "boolean"), ("GraphState", "picklist")],
    "ActionCadenceTracker": _RECORD_FIELDS + [
        ("ActionCadenceId", "reference"), ("TargetId", "reference"), ("OwnerId", "reference"),
        ("State", "picklist"), ("CompletionReason", "picklist"), ("IsTrackerActive", "boolean"),
        ("CurrentStepId", "reference"), ("LastCompletedStepId", "reference")],
    "ActionCadenceStepTracker": _RECORD_FIELDS + [
        ("ActionCadenceId", "reference"), ("ActionCadenceName", "string"),
        ("ActionCadenceStepId", "reference"), ("ActionCadenceTrackerId", "reference"),
        ("TargetId", "reference"), ("StepTitle", "string"), ("StepType", "picklist"),
        ("State", "picklist"), ("CompletionReason", "picklist"),
        ("ActionTakenDateTime", "datetime"), ("CompletionDate", "datetime"),
        ("IsActionTaken", "boolean"), ("DueDateTime", "datetime")],
}
DUCKDB_TO_SALESFORCE = {
    "BOOLEAN": "boolean", "DOUBLE": "double", "DATE": "date", "TIMESTAMP": "datetime",
    "BIGINT": "double", "INTEGER": "double", "VARCHAR": "string",
}


def _words(name: str) -> str:
    """'LastModifiedDate' -> 'Last Modified Date', 'hs_email_status' -> 'Hs Email Status'."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name.replace("_", " "))
    return " ".join(w[:1].upper() + w[1:] for w in spaced.split())


def _columns(state: SandboxState, table: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of a table's columns, in table order."""
    return [
        (r["column_name"], r["data_type"]) for r in state.rows(
            """select column_name, data_type from information_schema.columns
               where table_name = ? and table_schema = 'main' order by ordinal_position""",
            [table])
    ]


def hubspot_property_rows(state: SandboxState) -> list[dict]:
    """One hs_properties row per property column of every hs_<object> table."""
    owner_options = [
        {"label": f"{first} {last}", "value": str(HUBSPOT_OWNER_BASE + i), "displayOrder": i,
         "hidden": False}
        for i, (first, last) in enumerate(OWNERS, start=1)
    ]
    rows = []
    for obj in HUBSPOT_OBJECTS:
        for column, _ in _columns(state, f"hs_{obj}"):
            if column in HUBSPOT_RECORD_COLUMNS:
                continue
            if column == "hubspot_owner_id":
                prop = HubSpotProperty("Owner", "enumeration", "select")
                options = owner_options
            else:
                prop = HUBSPOT_PROPERTIES.get((obj, column), HubSpotProperty(_words(column)))
                options = _options(list(prop.options))
            rows.append({
                "object_type": obj, "name": column, "label": prop.label, "type": prop.type,
                "field_type": prop.field_type, "group_name": prop.group,
                "options": json.dumps(options),
            })
    return rows


def _salesforce_type(sobject: str, name: str, duck_type: str) -> str:
    if name == "Id":
        return "id"
    if name in SALESFORCE_REFERENCES:
        return "reference"
    if (sobject, name) in SALESFORCE_PICKLISTS:
        return "picklist"
    return SALESFORCE_SPECIAL_TYPES.get(name, DUCKDB_TO_SALESFORCE.get(duck_type, "string"))


def _salesforce_label(sobject: str, name: str) -> str:
    if name == "Id":
        return f"{_words(sobject)} ID"
    if name.endswith("Id") and name in SALESFORCE_REFERENCES:
        return f"{_words(name[:-2])} ID"
    return _words(name)


def salesforce_field_rows(state: SandboxState) -> list[dict]:
    """One sf_fields row per column of every sf_* table, plus the cadence sObjects."""
    fields: list[tuple[str, str, str]] = []
    for table, sobject in SALESFORCE_TABLES.items():
        fields += [(sobject, name, _salesforce_type(sobject, name, duck_type))
                   for name, duck_type in _columns(state, table)]
    for sobject, cadence_fields in CADENCE_FIELDS.items():
        fields += [(sobject, name, sf_type) for name, sf_type in cadence_fields]
    return [
        {
            "sobject": sobject, "name": name, "label": _salesforce_label(sobject, name),
            "type": sf_type,
            "picklist": json.dumps(SALESFORCE_PICKLISTS.get((sobject, name), [])),
            "reference_to": SALESFORCE_REFERENCES.get(name) if sf_type == "reference" else None,
        }
        for sobject, name, sf_type in fields
    ]


def owner_rows() -> tuple[list[dict], list[dict]]:
    """The reps as hs_owners rows and as sf_user rows (same emails)."""
    hubspot, salesforce = [], []
    for i, (first, last) in enumerate(OWNERS, start=1):
        email = owner_email(first, last)
        hubspot.append({"id": str(HUBSPOT_OWNER_BASE + i), "email": email,
                        "first_name": first, "last_name": last,
                        "user_id": HUBSPOT_USER_BASE + i})
        salesforce.append({"Id": salesforce_id("User", i), "Username": f"{email}.sandbox",
                           "Email": email, "FirstName": first, "LastName": last,
                           "IsActive": True})
    return hubspot, salesforce


def _insert_missing(state: SandboxState, table: str, rows: list[dict]) -> None:
    """Insert rows whose key is not there yet: re-seeding never clobbers API edits."""
    if not rows:
        return
    with state.lock:
        state.con.register("_seed_batch", pa.Table.from_pylist(rows))
        try:
            state.con.execute(
                f"insert into {table} by name select * from _seed_batch on conflict do nothing")
        finally:
            state.con.unregister("_seed_batch")


def seed_metadata(state: SandboxState) -> None:
    """Fill the metadata an empty sandbox has: properties, fields, owners and their counters.

    Idempotent: the app seeds again over a state the server already seeded and generated.
    """
    hubspot_owners, salesforce_users = owner_rows()
    # the reps' accounts predate every generated record (those span two years)
    created = (state.now() - timedelta(days=3 * 365)).replace(microsecond=0)
    for user in salesforce_users:
        user.update(CreatedDate=created, LastModifiedDate=created, SystemModstamp=created)
    with state.transaction():
        _insert_missing(state, "hs_properties", hubspot_property_rows(state))
        _insert_missing(state, "sf_fields", salesforce_field_rows(state))
        _insert_missing(state, "hs_owners", hubspot_owners)
        _insert_missing(state, "sf_user", salesforce_users)
        state.execute(
            """insert into sb_counters values ('hs_owners', $n), ('User', $n)
               on conflict (name) do update
               set value = greatest(sb_counters.value, excluded.value)""",
            {"n": len(OWNERS)})

