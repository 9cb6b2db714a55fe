"""The sandbox's Salesforce REST API, driven over HTTPS by simple-salesforce itself.

Each test resets the shared sandbox to the records it needs, so tests stay independent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from sandbox.client import SandboxClient
from sandbox.salesforce_api import upsert_records
from sandbox.state import SandboxState

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def reset(sandbox: SandboxClient, now: datetime = NOW) -> None:
    sandbox.reset(now=now.isoformat())


def contacts(n: int, prefix: str = "person") -> list[dict]:
    return [{"FirstName": f"F{i}", "LastName": f"L{i}", "Email": f"{prefix}{i}@example.com"}
            for i in range(n)]


def error_code(err: pytest.ExceptionInfo) -> str:
    return err.value.content[0]["errorCode"]


def action(sf: Salesforce, name: str, inputs: list[dict]) -> list[dict]:
    return sf.restful(f"actions/standard/{name}", method="POST", json={"inputs": inputs})


# ---- query / queryAll ------------------------------------------------------------------------

def test_query_all_follows_next_records_url_through_5000_contacts(
    sandbox: SandboxClient, salesforce_client: Salesforce
) -> None:
    reset(sandbox)
    sandbox.upsert_salesforce("Contact", contacts(5000))
    sandbox.clear_requests()
    result = salesforce_client.query_all("SELECT Id, Email FROM Contact ORDER BY Email")
    assert result["totalSize"] == 5000
    emails = [r["Email"] for r in result["records"]]
    assert emails == sorted(emails) and len(set(emails)) == 5000
    assert result["records"][0]["attributes"]["type"] == "Contact"
    paths = [r["path"] for r in sandbox.requests() if r["api"] == "salesforce"]
    assert len(paths) == 3  # 2,000 + 2,000 + 1,000
    assert "/query/01gSANDBOX-" in paths[1] and paths[1].endswith("-2000")


def test_first_batch_reports_the_total_and_the_locator_of_the_next(
    sandbox: SandboxClient, salesforce_client: Salesforce
) -> None:
    reset(sandbox)
    sandbox.upsert_salesforce("Contact", contacts(2500))
    first = salesforce_client.query("SELECT Id FROM Contact")
    assert first["totalSize"] == 2500 and first["done"] is False
    assert len(first["records"]) == 2000
    url = first["nextRecordsUrl"]
    assert url.startswith("/services/data/v") and "/query/01gSANDBOX-" in url
    second = salesforce_client.query_more(url, identifier_is_url=True)
    again = salesforce_client.query_more(url, identifier_is_url=True)  # a retried batch
    assert second["done"] is True and "nextRecordsUrl" not in second
    assert len(second["records"]) == 500 and second["records"] == again["records"]
    ids = {r["Id"] for r in first["records"]} | {r["Id"] for r in second["records"]}
    assert len(ids) == 2500


def test_batch_size_header_sets_the_batch(
    sandbox: SandboxClient, salesforce_client: Salesforce
) -> None:
    reset(sandbox)
    sandbox.upsert_salesforce("Contact", contacts(450))
    first = salesforce_client.query("SELECT Id FROM Contact",
                                    headers={"Sforce-Query-Options": "batchSize=200"})
    assert len(first["records"]) == 200 and first["nextRecordsUrl"].endswith("-200")


def test_unknown_query_locator_is_refused(salesforce_client: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        salesforce_client.query_more("01gSANDBOX-999999-2000")
    assert error_code(err) == "INVALID_QUERY_LOCATOR"


def test_locators_do_not_survive_a_reset(
    sandbox: SandboxClient, salesforce_client: Salesforce
) -> None:
    reset(sandbox)
    sandbox.upsert_salesforce("Contact", contacts(2001))
    url = salesforce_client.query("SELECT Id FROM Contact")["nextRecordsUrl"]
    reset(sandbox)
    with pytest.raises(SalesforceMalformedRequest) as err:
        salesforce_client.query_more(url, identifier_is_url=True)
    assert error_code(err) == "INVALID_QUERY_LOCATOR"


def test_query_leaves_out_deleted_records_and_query_all_includes_them(
    sandbox: SandboxClient, salesforce_client: Salesforce
) -> None:
    reset(sandbox)
    kept, gone = sandbox.upsert_salesforce("Contact", contacts(2))
    sandbox.upsert_salesforce("Contact", [{"Id": gone["id"], "IsDeleted": True}])
    live = salesforce_client.query("SELECT Id, IsDeleted FROM Contact")
    assert [r["Id"] for r in live["records"]] == [kept["id"]]
    everything = salesforce_client.query_all("SELECT Id, IsDeleted FROM Contact ORDER BY Id",
                                             include_deleted=True)
    assert [(r["Id"], r["IsDeleted"]) for r in everything["records"]] == [
        (kept["id"], False), (gone["id"], True)]


def test_values_come_back_in_salesforce_json_forms(
    sandbox: SandboxClient, salesforce_client: Salesforce
) -> None:
    reset(sandbox)
    [opp] = sandbox.upsert_salesforce("Opportunity", [{
        "Name": "Big deal", "StageName": "Closed Won", "Amount": 1250.5,
        "CloseDate": "2026-02-27"}])
    [record] = salesforce_client.query(
        "SELECT Id, Name, Amount, CloseDate, IsClosed, IsWon, CreatedDate, AccountId "
        "FROM Opportunity")["records"]
    assert record == {
        "attributes": {"type": "Opportunity",
                       "url": f"/services/data/v{salesforce_client.sf_version}/sobjects/"
                              f"Opportunity/{opp['id']}"},
        "Id": opp["id"], "Name": "Big deal", "Amount": 1250.5, "CloseDate": "2026-02-27",
        "IsClosed": True, "IsWon": True, "CreatedDate": "2026-03-02T12:00:00.000+0000",
        "AccountId": None,
    }


def test_where_clause_with_dates_relative_to_the_sandbox_clock(
    sandbox: SandboxClient, salesforce_client: Salesforce
) -> None:
    reset(sandbox, now=NOW - timedelta(days=10))
    sandbox.upsert_salesforce("Contact", contacts(1, "old"))
    sandbox.set_clock(NOW)
    sandbox.upsert_salesforce("Contact", contacts(1, "new"))
    recent = salesforce_client.query(
        "SELECT Email FROM Contact WHERE CreatedDate = LAST_N_DAYS:7")["records"]
    assert [r["Email"] for r in recent] == ["new0@example.com"]
    today = salesforce_client.query("SELECT COUNT() FROM Contact WHERE CreatedDate = TODAY")
    assert today["totalSize"] == 1 and today["records"] == []
    since = salesforce_client.query(
        "SELECT Email FROM Contact WHERE SystemModstamp > 2026-03-01T00:00:00Z")["records"]
    assert [r["Email"] for r in since] == ["new0@example.com"]


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Contact WHERE", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE Email = 'a' AND Title = 'b' OR Id = 'c'",
         "MALFORMED_QUERY"),
        ("SELECT Nope FROM Contact", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE CreatedDate > 2026-01-01", "INVALID_FIELD"),
        ("SELECT Id FROM Widget__c", "INVALID_TYPE"),
    ],
)
def test_bad_soql_raises_malformed_request_with_salesforce_error_code(
    salesforce_client: Salesforce, soql: str, code: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        salesforce_client.query(soql)
    assert err.value.status == 400
    assert error_code(err) == code
    assert "ERROR at Row:1:Column:" in err.value.content[0]["message"]


# ---- describe ------------------------------------------------------------------------------

def test_describe_serves_fields_with_types_and_picklists(
    sandbox: SandboxClient, salesforce_client: Salesforce
) -> None:
    reset(sandbox)
    described = salesforce_client.Opportunity.describe()
    assert described["name"] == "Opportunity" and described["keyPrefix"] == "006"
    fields = {f["name"]: f for f in described["fields"]}
    stage = fields["StageName"]
    assert stage["type"] == "picklist"
    assert {"Closed Won", "Closed Lost"} <= {p["value"] for p in stage["picklistValues"]}
    assert set(stage["picklistValues"][0]) >= {"label", "value", "active", "defaultValue"}
    assert fields["AccountId"]["type"] == "reference"
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["Id"]["type"] == "id" and not fields["Id"]["nillable"]
    assert fields["CloseDate"]["type"] == "date"
    assert fields["IsWon"]["updateable"] is False


def test_sobject_names_are_case_insensitive_and_served_canonically(
    salesforce_client: Salesforce,
) -> None:
    described = salesforce_client.restful("sobjects/actioncadencetracker/describe")
    assert described["name"] == "ActionCadenceTracker"
    names = {f["name"] for f in described["fields"]}
    assert {"ActionCadenceId", "TargetId", "State", "CompletionReason", "IsTrackerActive",
            "CurrentStepId", "LastCompletedStepId"} <= names
    assert "CurrentStepNumber" not in names  # no such field on the real object
    listed = {s["name"] for s in salesforce_client.describe()["sobjects"]}
    assert {"Contact", "Lead", "Account", "Opportunity", "OpportunityContactRole", "Task",
            "Event", "User", "ActionCadence", "ActionCadenceStep", "ActionCadenceTracker",
            "ActionCadenceStepTracker"} <= listed


def test_unknown_sobject_is_not_found(salesforce_client: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as err:
        salesforce_client.restful("sobjects/Widget__c/describe")
    assert error_code(err) == "NOT_FOUND"


# ---- records -------------------------------------------------------------------------------

def test_create_read_update_delete_one_record(
    sandbox: SandboxClient, salesforce_client: Salesforce
) -> None:
    reset(sandbox)
    created = salesforce_client.Contact.create({"LastName": "Lovelace", "Email": "ada@x.org"})
    assert created["success"] is True and created["id"].startswith("003")
    record = salesforce_client.Contact.get(created["id"])
    assert record["LastName"] == "Lovelace" and record["HasOptedOutOfEmail"] is False
    assert salesforce_client.Contact.update(created["id"], {"Title": "Countess"}) == 204
    assert salesforce_client.Contact.get(created["id"])["Title"] == "Countess"
    assert salesforce_client.Contact.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        salesforce_client.Contact.get(created["id"])
    actions = [(e["object"], e["action"]) for e in sandbox.events()]
    assert actions == [("Contact", "upsert"), ("Contact", "patch"), ("Contact", "delete")]


def test_writes_refuse_what_salesforce_refuses(
    sandbox: SandboxClient, salesforce_client: Salesforce
) -> None:
    reset(sandbox)
    with pytest.raises(SalesforceMalformedRequest) as missing:
        salesforce_client.Contact.create({"Email": "no-name@x.org"})
    assert error_code(missing) == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        salesforce_client.Contact.create({"LastName": "X", "Shoe_Size__c": 9})
    assert error_code(unknown) == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as system:
        salesforce_client.Contact.create({"LastName": "X", "CreatedDate": "2020-01-01"})
    assert error_code(system) == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceResourceNotFound):
        salesforce_client.Contact.update("003000000000999AAA", {"Title": "x"})


def test_control_upsert_names_an_unknown_field(sandbox: SandboxClient) -> None:
    reset(sandbox)
    with pytest.raises(RuntimeError, match="Shoe_Size__c"):
        sandbox.upsert_salesforce("Contact", [{"LastName": "X", "Shoe_Size__c": 9}])


def test_opportunity_closed_and_won_follow_the_stage(
    sandbox: SandboxClient, salesforce_client: Salesforce
) -> None:
    reset(sandbox)
    [opp] = sandbox.upsert_salesforce("Opportunity", [
        {"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-04-01"}])
    sandbox.upsert_salesforce("Opportunity", [{"Id": opp["id"], "StageName": "Closed Lost"}])
    [row] = salesforce_client.query("SELECT IsClosed, IsWon FROM Opportunity")["records"]
    assert (row["IsClosed"], row["IsWon"]) == (True, False)


# ---- updated / deleted ---------------------------------------------------------------------

def test_updated_and_deleted_cover_their_window(
    sandbox: SandboxClient, salesforce_client: Salesforce
) -> None:
    reset(sandbox, now=NOW)
    early, doomed = sandbox.upsert_salesforce("Contact", contacts(2, "early"))
    sandbox.set_clock(NOW + timedelta(hours=1))
    [late] = sandbox.upsert_salesforce("Contact", contacts(1, "late"))
    sandbox.upsert_salesforce("Contact", [{"Id": doomed["id"], "IsDeleted": True}])
    sandbox.set_clock(NOW + timedelta(hours=2, seconds=30))

    window = (NOW + timedelta(minutes=30), NOW + timedelta(hours=3))
    updated = salesforce_client.Contact.updated(*window)
    assert updated["ids"] == [late["id"]]
    assert updated["latestDateCovered"] == "2026-03-02T14:00:00.000+0000"  # the clock, minutes
    deleted = salesforce_client.Contact.deleted(*window)
    assert deleted["deletedRecords"] == [
        {"id": doomed["id"], "deletedDate": "2026-03-02T13:00:00.000+0000"}]
    assert deleted["latestDateCovered"] == "2026-03-02T14:00:00.000+0000"
    assert "earliestDateAvailable" in deleted
    # the deleted one's modstamp moved to its deletion, so it left the earlier window
    first_minute = salesforce_client.Contact.updated(NOW - timedelta(minutes=5),
                                                     NOW + timedelta(minutes=1))
    assert first_minute["ids"] == [early["id"]]


def test_replication_window_is_checked_like_salesforce(
    sandbox: SandboxClient, salesforce_client: Salesforce
) -> None:
    reset(sandbox, now=NOW)
    with pytest.raises(SalesforceMalformedRequest) as too_old:
        salesforce_client.Contact.updated(NOW - timedelta(days=31), NOW)
    assert error_code(too_old) == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceMalformedRequest) as backwards:
        salesforce_client.Contact.deleted(NOW, NOW - timedelta(hours=1))
    assert error_code(backwards) == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceMalformedRequest) as naive:  # no zone: an ambiguous time
        salesforce_client.Contact.updated(datetime(2026, 3, 1), datetime(2026, 3, 2))
    assert error_code(naive) == "INVALID_REPLICATION_DATE"


# ---- Sales Engagement actions and cadence trackers -----------------------------------------

CADENCE_ID = "77C000000000001EAA"


@pytest.fixture
def cadence(sandbox: SandboxClient) -> list[str]:
    """A fresh sandbox with one two-step cadence and three contacts (the third opted out)."""
    reset(sandbox)
    sandbox.define_sequences([{"id": CADENCE_ID, "name": "Outbound",
                               "steps": [{"after_minutes": 0}, {"after_minutes": 60}]}])
    people = contacts(3)
    people[2]["HasOptedOutOfEmail"] = True
    return [r["id"] for r in sandbox.upsert_salesforce("Contact", people)]


def records(sf: Salesforce, soql: str) -> list[dict]:
    rows = sf.query(soql)["records"]
    for row in rows:
        del row["attributes"]
    return rows


def trackers(sf: Salesforce) -> list[dict]:
    return records(sf, "SELECT Id, ActionCadenceId, TargetId, State, CompletionReason, "
                       "IsTrackerActive, CurrentStepId, LastCompletedStepId "
                       "FROM ActionCadenceTracker ORDER BY TargetId")


def assign(sf: Salesforce, *targets: str) -> None:
    assert all(r["isSuccess"] for r in action(sf, "assignTargetToSalesCadence", [
        {"salesCadenceNameOrId": "Outbound", "targetId": t} for t in targets]))


def step_titles(sf: Salesforce, step_tracker_ids: list[str | None]) -> list[str | None]:
    """The titles of the ActionCadenceSteps behind step trackers (None stays None)."""
    known = [i for i in step_tracker_ids if i]
    if not known:
        return [None] * len(step_tracker_ids)
    quoted = ", ".join(f"'{i}'" for i in known)
    step_of = {r["Id"]: r["ActionCadenceStepId"] for r in records(
        sf, f"SELECT Id, ActionCadenceStepId FROM ActionCadenceStepTracker "
            f"WHERE Id IN ({quoted})")}
    steps = ", ".join(f"'{i}'" for i in step_of.values())
    title = {r["Id"]: r["StepTitle"] for r in records(
        sf, f"SELECT Id, StepTitle FROM ActionCadenceStep WHERE Id IN ({steps})")}
    return [title[step_of[i]] if i else None for i in step_tracker_ids]


def test_assign_enrolls_and_reports_per_input_errors_with_http_200(
    sandbox: SandboxClient, salesforce_client: Salesforce, cadence: list[str]
) -> None:
    first, second, opted_out = cadence
    results = action(salesforce_client, "assignTargetToSalesCadence", [
        {"salesCadenceNameOrId": "Outbound", "targetId": first, "userId": "005000000000001AAA"},
        {"salesCadenceNameOrId": CADENCE_ID, "targetId": second},
        {"salesCadenceNameOrId": "Outbound", "targetId": opted_out},
        {"salesCadenceNameOrId": "Outbound", "targetId": first},
        {"salesCadenceNameOrId": "No such cadence", "targetId": second},
        {"salesCadenceNameOrId": "Outbound", "targetId": "003000000000999AAA"},
        {"salesCadenceNameOrId": "Outbound"},
        {"salesCadenceNameOrId": "Outbound", "targetId": second, "completionReasonCode": "x"},
    ])
    assert [r["isSuccess"] for r in results] == [True, True] + [False] * 6
    assert results[0] == {"actionName": "assignTargetToSalesCadence", "isSuccess": True}
    # the guide's error example: UNKNOWN_EXCEPTION, the message again in outputValues.error
    assert {r["errors"][0]["statusCode"] for r in results[2:]} == {"UNKNOWN_EXCEPTION"}
    assert all(r["outputValues"] == {"error": r["errors"][0]["message"]} for r in results[2:])
    assert results[4]["errors"][0]["message"] == "The object needs to be a valid cadence entity."
    assert "already enrolled" in results[3]["errors"][0]["message"]
    assert "completionReasonCode" in results[7]["errors"][0]["message"]  # not an assign input
    enrolled = {(e["contact_id"], e["state"]) for e in sandbox.enrollments()}
    assert enrolled == {(first, "active"), (second, "active")}


def test_trackers_name_their_steps_through_step_trackers(
    sandbox: SandboxClient, salesforce_client: Salesforce, cadence: list[str]
) -> None:
    first, second, _ = cadence
    assign(salesforce_client, first, second)
    rows = trackers(salesforce_client)
    assert [(t["TargetId"], t["State"], t["IsTrackerActive"], t["LastCompletedStepId"])
            for t in rows] == [(first, "Running", True, None), (second, "Running", True, None)]
    assert all(t["Id"].startswith("0qB") and len(t["Id"]) == 18
               and t["ActionCadenceId"] == CADENCE_ID for t in rows)
    assert step_titles(salesforce_client, [t["CurrentStepId"] for t in rows]) == [
        "Email 1", "Email 1"]

    sandbox.set_clock(NOW + timedelta(minutes=1))  # the first step goes out
    rows = trackers(salesforce_client)
    assert step_titles(salesforce_client, [t["LastCompletedStepId"] for t in rows]) == [
        "Email 1", "Email 1"]
    assert step_titles(salesforce_client, [t["CurrentStepId"] for t in rows]) == [
        "Email 2", "Email 2"]
    [sent] = records(salesforce_client, "SELECT State, StepType, ActionTakenDateTime "
                                        "FROM ActionCadenceStepTracker WHERE State = 'Completed'"
                                        f" AND TargetId = '{first}'")
    assert sent["StepType"] == "AutoSendAnEmail" and sent["ActionTakenDateTime"]


def test_parent_fields_come_through_their_relationship_or_are_refused(
    sandbox: SandboxClient, salesforce_client: Salesforce, cadence: list[str]
) -> None:
    first, second, _ = cadence
    assign(salesforce_client, first)
    sandbox.set_clock(NOW + timedelta(minutes=1))
    [row] = records(salesforce_client,
                    "SELECT Id, LastCompletedStep.StepTitle, CurrentStep.StepTitle, "
                    "Owner.Email FROM ActionCadenceTracker")
    assert row["LastCompletedStep"]["StepTitle"] == "Email 1"
    assert row["LastCompletedStep"]["attributes"]["type"] == "ActionCadenceStepTracker"
    assert row["CurrentStep"]["StepTitle"] == "Email 2"
    [contact] = records(salesforce_client, f"SELECT Account.Name FROM Contact "
                                           f"WHERE Id = '{second}'")
    assert contact == {"Account": None}   # no parent: null, as Salesforce answers
    for soql in ("SELECT Who.Email FROM Task",                 # polymorphic
                 "SELECT Id, Cadence.Name FROM ActionCadenceTracker",
                 "SELECT Id FROM ActionCadenceTracker WHERE CurrentStep.State = 'Active'",
                 "SELECT CurrentStep.Nope FROM ActionCadenceTracker"):
        with pytest.raises(SalesforceMalformedRequest) as err:
            salesforce_client.query(soql)
        assert error_code(err) == "INVALID_FIELD", soql


def test_steps_chain_from_the_root_by_parent_step_name(
    salesforce_client: Salesforce, cadence: list[str]
) -> None:
    steps = records(salesforce_client, "SELECT Id, StepName, ParentStepName, RootStepId, Type, "
                                       "StepTitle FROM ActionCadenceStep WHERE IsOrphan = false")
    by_parent = {s["ParentStepName"]: s for s in steps}
    root = by_parent[None]
    assert root["Type"] == "Root" and all(s["RootStepId"] == root["Id"] for s in steps)
    chain = [by_parent[root["StepName"]]]
    chain.append(by_parent[chain[0]["StepName"]])
    assert [(s["Type"], s["StepTitle"]) for s in chain] == [
        ("AutoSendAnEmail", "Email 1"), ("AutoSendAnEmail", "Email 2")]


def test_pause_resume_and_remove_take_only_their_documented_inputs(
    sandbox: SandboxClient, salesforce_client: Salesforce, cadence: list[str]
) -> None:
    first, second, _ = cadence
    assign(salesforce_client, first, second)
    sandbox.set_clock(NOW + timedelta(minutes=1))

    paused = action(salesforce_client, "pauseSalesCadenceTracker", [{"targetId": first}])
    assert paused[0]["isSuccess"]
    assert trackers(salesforce_client)[0]["State"] == "Paused"
    resumed = action(salesforce_client, "resumeSalesCadenceTracker", [
        {"targetId": first, "salesCadenceNameOrId": "Outbound"}, {"targetId": first},
        {"targetId": second}])
    # no cadence input on resume; the second target was never paused
    assert [r["isSuccess"] for r in resumed] == [False, True, False]
    assert "salesCadenceNameOrId" in resumed[0]["errors"][0]["message"]
    assert trackers(salesforce_client)[0]["State"] == "Running"

    removed = action(salesforce_client, "removeTargetFromSalesCadence", [
        {"targetId": first, "salesCadenceNameOrId": "Outbound",
         "completionReasonCode": "ManuallyRemoved"},
        {"targetId": first},
        {"targetId": first, "completionReasonCode": "NoMoreSteps"},
        {"actionCadenceTrackerId": trackers(salesforce_client)[0]["Id"],
         "completionReasonCode": "ManuallyRemoved", "completionDisposition": "Not Interested"},
    ])
    assert [r["isSuccess"] for r in removed] == [False, False, False, True]
    again = action(salesforce_client, "removeTargetFromSalesCadence", [
        {"targetId": first, "completionReasonCode": "ManuallyRemoved"}])
    assert again[0]["isSuccess"] is False

    sandbox.set_clock(NOW + timedelta(hours=2))  # the second target finishes both steps
    assert [(t["State"], t["CompletionReason"], t["IsTrackerActive"], t["CurrentStepId"])
            for t in trackers(salesforce_client)] == [
        ("Complete", "ManuallyRemoved", False, None), ("Complete", "NoMoreSteps", False, None)]
    running = salesforce_client.query(
        "SELECT COUNT() FROM ActionCadenceTracker WHERE IsTrackerActive = true")
    assert running["totalSize"] == 0


def test_assign_starts_at_the_step_named_by_its_id(
    sandbox: SandboxClient, salesforce_client: Salesforce, cadence: list[str]
) -> None:
    first, second, _ = cadence
    [second_step] = records(salesforce_client, "SELECT Id FROM ActionCadenceStep "
                                               "WHERE StepTitle = 'Email 2'")
    results = action(salesforce_client, "assignTargetToSalesCadence", [
        {"salesCadenceNameOrId": "Outbound", "targetId": first,
         "startStepNameOrId": second_step["Id"]},
        {"salesCadenceNameOrId": "Outbound", "targetId": second, "startStepNameOrId": "3"}])
    assert [r["isSuccess"] for r in results] == [True, False]
    assert [(e["contact_id"], e["step"]) for e in sandbox.enrollments()] == [(first, 1)]
    rows = trackers(salesforce_client)
    assert step_titles(salesforce_client, [rows[0]["CurrentStepId"]]) == ["Email 2"]


def test_action_with_more_than_200_inputs_is_refused(
    salesforce_client: Salesforce, cadence: list[str]
) -> None:
    inputs = [{"salesCadenceNameOrId": "Outbound", "targetId": cadence[0]}] * 201
    with pytest.raises(SalesforceMalformedRequest) as err:
        action(salesforce_client, "assignTargetToSalesCadence", inputs)
    assert error_code(err) == "EXCEEDED_ID_LIMIT"
    ok = action(salesforce_client, "assignTargetToSalesCadence", inputs[:200])
    assert len(ok) == 200 and sum(r["isSuccess"] for r in ok) == 1


def test_unknown_action_is_not_found(salesforce_client: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        action(salesforce_client, "launchRockets", [{"targetId": "x"}])


def test_action_cadences_are_queryable_with_vendor_shaped_ids(
    sandbox: SandboxClient, salesforce_client: Salesforce, cadence: list[str]
) -> None:
    [row] = salesforce_client.query(
        "SELECT Id, Name, State FROM ActionCadence WHERE Name = 'outbound'")["records"]
    assert (row["Id"], row["Name"], row["State"]) == (CADENCE_ID, "Outbound", "Active")
    # a sequence defined with a sandbox id of its own is served with an 18-character one
    sandbox.define_sequences([{"id": "101", "name": "Other", "steps": []}])
    [other] = salesforce_client.query(
        "SELECT Id FROM ActionCadence WHERE Name = 'Other'")["records"]
    assert other["Id"] == "77C000000000101EAA"


def test_wrong_session_gets_the_real_401(sandbox: SandboxClient) -> None:
    session = requests.Session()
    session.verify = sandbox.cert
    session.trust_env = False
    response = session.get(f"{sandbox.url}/services/data/v59.0/query/",
                           params={"q": "SELECT Id FROM Contact"},
                           headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"


# ---- upsert_records on the state itself ------------------------------------------------------

@pytest.fixture
def state() -> SandboxState:
    fresh = SandboxState()
    fresh.set_clock(datetime(2026, 3, 2, 12, 0))
    return fresh


def contact_row(state: SandboxState, record_id: str) -> dict:
    return state.rows("select * from sf_contact where Id = ?", [record_id])[0]


def test_upsert_assigns_ids_from_the_counter_and_keeps_given_ones(state: SandboxState) -> None:
    first = upsert_records(state, "contact", [{"LastName": "A"}, {"LastName": "B"}])
    given = upsert_records(state, "Contact", [{"Id": "003000000000777AAA", "LastName": "C"}])
    more = upsert_records(state, "CONTACT", [{"LastName": "D"}])
    assert [r["id"] for r in first + given + more] == [
        "003000000000001AAA", "003000000000002AAA", "003000000000777AAA", "003000000000003AAA"]
    assert all(r["created"] and r["success"] for r in first + given + more)


def test_upsert_updates_only_the_fields_a_record_names(state: SandboxState) -> None:
    [created] = upsert_records(state, "Contact", [
        {"LastName": "Hopper", "Email": "grace@navy.mil", "Title": "RADM",
         "CreatedDate": "2025-01-01T00:00:00.000+0000"}])
    state.set_clock(datetime(2026, 3, 2, 13, 0))
    [updated] = upsert_records(state, "Contact", [{"Id": created["id"], "Title": None,
                                                   "HasOptedOutOfEmail": True}])
    assert updated == {"id": created["id"], "created": False, "success": True, "errors": []}
    row = contact_row(state, created["id"])
    assert (row["LastName"], row["Email"], row["Title"], row["HasOptedOutOfEmail"]) == (
        "Hopper", "grace@navy.mil", None, True)
    assert row["CreatedDate"] == datetime(2025, 1, 1)
    assert row["LastModifiedDate"] == row["SystemModstamp"] == datetime(2026, 3, 2, 13, 0)


def test_tombstone_keeps_the_record_and_moves_its_modstamp(state: SandboxState) -> None:
    [created] = upsert_records(state, "Lead", [{"LastName": "L", "Company": "C"}])
    state.set_clock(datetime(2026, 3, 2, 14, 0))
    upsert_records(state, "Lead", [{"Id": created["id"], "IsDeleted": True}])
    row = state.rows("select IsDeleted, SystemModstamp, LastName from sf_lead")[0]
    assert row == {"IsDeleted": True, "SystemModstamp": datetime(2026, 3, 2, 14, 0),
                   "LastName": "L"}
    events = state.rows("select object, record_id, action from sb_events order by happened_at")
    assert [e["action"] for e in events] == ["upsert", "delete"]
    assert {e["record_id"] for e in events} == {created["id"]}


@pytest.mark.parametrize(
    ("sobject", "records", "message"),
    [
        ("Contact", [{"LastName": "X", "Favourite_Color__c": "teal"}], "Favourite_Color__c"),
        ("Opportunity", [{"Name": "O", "Amount": "lots"}],
         "Opportunity.Amount: cannot read 'lots'"),
        ("Opportunity", [{"Name": "O", "CloseDate": "soon"}], "Opportunity.CloseDate"),
        ("Contact", [{"Id": "003000000000001AAA"}, {"Id": "003000000000001AAA"}],
         "appears twice"),
        ("Contact", [{"LastName": "X", "SystemModstamp": "2026-01-01T00:00:00Z"}],
         "set from the sandbox clock"),
        ("ActionCadenceTracker", [{"State": "Running"}], "served from the sequencer"),
        ("ActionCadenceStepTracker", [{"State": "Completed"}], "served from the sequencer"),
        ("Widget__c", [{"Name": "W"}], "unknown Salesforce sObject 'Widget__c'"),
    ],
)
def test_upsert_refuses_bad_records_naming_what_is_wrong(
    state: SandboxState, sobject: str, records: list[dict], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        upsert_records(state, sobject, records)
    assert state.rows("select count(*) as n from sb_events")[0]["n"] == 0


def test_upsert_reads_salesforce_time_forms_as_utc(state: SandboxState) -> None:
    [created] = upsert_records(state, "Event", [{
        "Subject": "Demo", "StartDateTime": "2026-03-05T10:00:00.000+0100",
        "EndDateTime": "2026-03-05T10:30:00Z"}])
    row = state.rows("select StartDateTime, EndDateTime from sf_event where Id = ?",
                     [created["id"]])[0]
    assert row == {"StartDateTime": datetime(2026, 3, 5, 9, 0),
                   "EndDateTime": datetime(2026, 3, 5, 10, 30)}
