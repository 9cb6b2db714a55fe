"""What Salesforce documents, written down from its pages (each cited), and the checks that
hold a request or a response against it. The contract tests compare what seqguard sends
and reads, over HTTPS to the sandbox, with these; nothing here comes from seqguard's code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

# ---- fields: the Object Reference for the Salesforce Platform ---------------------------------
# https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/
# (sforce_api_objects_<object>.htm) and its Field Reference tables
# (https://developer.salesforce.com/docs/platform/field-reference/references/field-reference/
# salesforce-field-reference-<object>.html). The standard objects list the fields a sync
# may name (every one on its object's page); the cadence objects list all their fields.

SYSTEM = {"Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate",
          "LastModifiedById", "SystemModstamp"}
DOCUMENTED_FIELDS: dict[str, set[str]] = {
    "User": SYSTEM | {"Username", "Email", "FirstName", "LastName", "IsActive"},
    "Account": SYSTEM | {"Name", "Website", "Type", "Industry", "OwnerId"},
    "Contact": SYSTEM | {"FirstName", "LastName", "Email", "AccountId", "OwnerId",
                         "HasOptedOutOfEmail", "EmailBouncedReason", "EmailBouncedDate",
                         "Title"},
    "Lead": SYSTEM | {"FirstName", "LastName", "Email", "Company", "Website", "Status",
                      "IsConverted", "ConvertedContactId", "OwnerId", "HasOptedOutOfEmail",
                      "EmailBouncedReason", "EmailBouncedDate", "Title"},
    "Opportunity": SYSTEM | {"Name", "AccountId", "StageName", "IsClosed", "IsWon", "Amount",
                             "CloseDate", "OwnerId", "Type"},
    "OpportunityContactRole": SYSTEM | {"OpportunityId", "ContactId", "Role", "IsPrimary"},
    # Task: no cadence field; TaskSubtype 'Cadence' is "an internal value used by Sales
    # Engagement, and can't be set manually"
    "Task": SYSTEM | {"AccountId", "ActivityDate", "CallDisposition", "CallDurationInSeconds",
                      "CallObject", "CallType", "CompletedDateTime", "Description",
                      "IsArchived", "IsClosed", "IsHighPriority", "IsRecurrence",
                      "IsReminderSet", "OwnerId", "Priority", "Status", "Subject",
                      "TaskSubtype", "Type", "WhatId", "WhoId"},
    "Event": SYSTEM | {"Subject", "WhoId", "WhatId", "OwnerId", "StartDateTime",
                       "EndDateTime"},
    # ActionCadence: the fields "Cadence Object Relationships" describes
    "ActionCadence": SYSTEM | {"Name", "State", "Description", "FolderId", "FolderName",
                               "ActivatedDate", "LastEditedDateTime"},
    "ActionCadenceTracker": SYSTEM | {
        "ActionCadenceId", "CompletionDisposition", "CompletionReason", "CurrentStepId",
        "DaisyChainIteration", "ErrorMessage", "ExitGlobalRuleId", "IsTrackerActive",
        "LastCompletedStepId", "OwnerId", "RelatedToAttributionType", "RelatedToId",
        "ScheduledResumeDateTime", "State", "TargetId"},
    "ActionCadenceStepTracker": SYSTEM | {
        "ActionCadenceId", "ActionCadenceName", "ActionCadenceStepId", "ActionCadenceTrackerId",
        "ActionTakenDateTime", "BranchIterationCount", "Channel", "CompletedById",
        "CompletionDate", "CompletionReason", "DueDateTime", "ErrorCode",
        "GoToStepIterationCount", "IsActionTaken", "ScheduledStartDateTime", "SecondsOverdue",
        "State", "StepTitle", "StepType", "TargetId", "WasEverPaused"},
    "ActionCadenceStep": SYSTEM | {
        "ActionCadenceId", "BranchDefaultStepName", "ChainedCadenceId", "DayGroup",
        "GoToStepIntervalInMinutes", "GoToStepIterationLimit", "GoToStepName", "GraphState",
        "HasVariant", "IsImmediateWakeUp", "IsOrphan", "IsScheduledDueDateLocked",
        "IsScreenFlowActive", "IsStepAutomationActive", "IsThreaded", "MinuteGroup",
        "ParentStepName", "RootStepId", "ScheduledDaysUntilDue", "ScheduledDaysUntilStart",
        "ScheduledStartDelayInMinutes", "ScheduledStartTimeInMinutes", "ScreenFlowReference",
        "StepAutomationReference", "StepComments", "StepName", "StepTitle", "SubCadenceName",
        "TemplateId", "Type", "TypeDetail", "WaitTimeInSeconds"},
}

# parent relationships a query may follow (the fields' "Relationship Name" and "Refers To")
DOCUMENTED_RELATIONSHIPS: dict[tuple[str, str], str] = {
    ("ActionCadenceTracker", "CurrentStep"): "ActionCadenceStepTracker",
    ("ActionCadenceTracker", "LastCompletedStep"): "ActionCadenceStepTracker",
}

# ---- actions: Actions Developer Guide, "Sales Engagement Actions" ------------------------------
# https://developer.salesforce.com/docs/atlas.en-us.api_action.meta/api_action/actions_obj_high_velocity_sales.htm

ACTIONS_PAGE = ("https://developer.salesforce.com/docs/atlas.en-us.api_action.meta/api_action/"
                "actions_obj_high_velocity_sales.htm")
DOCUMENTED_INPUTS: dict[str, set[str]] = {
    "assignTargetToSalesCadence": {"salesCadenceNameOrId", "startStepNameOrId", "targetId",
                                   "userId", "relatedToId"},
    "removeTargetFromSalesCadence": {"targetId", "actionCadenceTrackerId",
                                     "completionReasonCode", "completionDisposition",
                                     "relatedToId", "relatedToAttributionType",
                                     "shouldApplyUserContext"},
    "pauseSalesCadenceTracker": {"targetId", "resumeTime"},
    "resumeSalesCadenceTracker": {"targetId"},
}
REQUIRED_INPUTS: dict[str, set[str]] = {
    "assignTargetToSalesCadence": {"salesCadenceNameOrId", "targetId"},
    "removeTargetFromSalesCadence": {"completionReasonCode"},  # + targetId or tracker id
    "pauseSalesCadenceTracker": {"targetId"},
    "resumeSalesCadenceTracker": {"targetId"},
}
# the guide's sample inputs and its two "Error Response Types" examples, as printed
SAMPLE_INPUTS: dict[str, dict[str, Any]] = {
    "assignTargetToSalesCadence": {"inputs": [{"salesCadenceNameOrId": "77Cxx0000004CXEEA2",
                                               "targetId": "00Qxx000002TRI2EAO"}]},
    "removeTargetFromSalesCadence": {"inputs": [{"completionReasonCode": "ManuallyRemoved",
                                                 "targetId": "00Qxx000002TRI2EAO"}]},
    "pauseSalesCadenceTracker": {"inputs": [{"targetId": "00Qxx000002TRI2EAO",
                                             "resumeTime": "2021-06-15T05:30:00:521917Z"}]},
    "resumeSalesCadenceTracker": {"inputs": [{"targetId": "00Qxx000002TRI2EAO"}]},
}
SUCCESS_EXAMPLE = [{"actionName": "assignTargetToSalesCadence", "isSuccess": True}]
ERROR_EXAMPLE = [{
    "actionName": "assignTargetToSalesCadence",
    "errors": [{"statusCode": "UNKNOWN_EXCEPTION",
                "message": "The object needs to be a valid cadence entity.", "fields": []}],
    "isSuccess": False,
    "outputValues": {"error": "The object needs to be a valid cadence entity."},
}]
# ids the guide shows: cadence, tracker (modifyCadenceTrackerAttributes) and step tracker
# (sendSalesCadenceEvent) samples
SAMPLE_IDS = {"ActionCadence": "77Cxx0000004CXEEA2", "ActionCadenceTracker": "0qBR00000005CXvMAM",
              "ActionCadenceStepTracker": "8HFR00000005WyqOAE"}

# ---- REST API Developer Guide -----------------------------------------------------------------
# query: "Execute a SOQL Query" (dome_query.htm) and Query More Results (resources_query.htm)
QUERY_EXAMPLE = {
    "done": False, "totalSize": 2014,
    "nextRecordsUrl": "/services/data/v67.0/query/01gD0000002HU6KIAW-2000",
    "records": [{"attributes": {"type": "Contact",
                                "url": "/services/data/v67.0/sobjects/Contact/003D000000QV9n2IAD"},
                 "Name": "Rose Gonzalez"}],
}
# describe: "sObject Describe" (resources_sobject_describe.htm), the keys seqguard reads
DESCRIBE_EXAMPLE = {
    "name": "Contact",
    "fields": [{"name": "LeadSource", "type": "picklist", "label": "Lead Source",
                "picklistValues": [{"active": True, "defaultValue": False, "label": "Web",
                                    "validFor": None, "value": "Web"}]}],
}
# updated / deleted: "Get a List of Updated Records" and "...Deleted Records"
# (dome_get_updated.htm, dome_get_deleted.htm)
UPDATED_EXAMPLE = {"ids": ["a00D0000008pQSNIA2"],
                   "latestDateCovered": "2013-05-08T22:00:00.000+0000"}
DELETED_EXAMPLE = {"deletedRecords": [{"id": "a00D0000008pQRAIA2",
                                       "deletedDate": "2013-05-07T22:07:19.000+0000"}],
                   "earliestDateAvailable": "2013-05-03T15:57:00.000+0000",
                   "latestDateCovered": "2013-05-08T21:20:00.000+0000"}
# errors: "Status Codes and Error Responses" (errorcodes.htm): a list of {message, errorCode}
# (fields when a field is at fault); 403 REQUEST_LIMIT_EXCEEDED is the org's API limit
ERROR_BODY_EXAMPLE = [{"message": "No such column 'Foo' on entity 'Contact'.",
                       "errorCode": "INVALID_FIELD", "fields": []}]
SALESFORCE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
ID_18 = re.compile(r"^[0-9A-Za-z]{18}$")


# ---- checks -----------------------------------------------------------------------------------

def mismatches(actual: Any, example: Any, path: str = "$") -> list[str]:
    """Where `actual` leaves the documented example's shape: a key the example lacks, or a
    value of another type (a null stands for an absent object or list)."""
    if isinstance(example, dict):
        if actual is None:
            return []
        if not isinstance(actual, dict):
            return [f"{path}: {type(actual).__name__}, documented as an object"]
        found = [f"{path}.{k}: not in the documented shape" for k in actual if k not in example]
        for key in actual.keys() & example.keys():
            found += mismatches(actual[key], example[key], f"{path}.{key}")
        return found
    if isinstance(example, list):
        if actual is None:
            return []
        if not isinstance(actual, list):
            return [f"{path}: {type(actual).__name__}, documented as a list"]
        return [m for i, item in enumerate(actual) if example
                for m in mismatches(item, example[0], f"{path}[{i}]")]
    if example is None or actual is None:
        return []
    kinds = (bool,) if isinstance(example, bool) else (
        (int, float) if isinstance(example, int | float) else (type(example),))
    if isinstance(actual, bool) != isinstance(example, bool) or not isinstance(actual, kinds):
        return [f"{path}: {type(actual).__name__}, documented as {type(example).__name__}"]
    return []


def soql_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["q"][0]


def soql_fields(soql: str) -> tuple[str, set[str]]:
    """(sObject, every field a query names) of the simple SOQL seqguard writes."""
    match = re.match(r"(?is)^\s*select\s+(.*?)\s+from\s+(\w+)(.*)$", soql)
    assert match, soql
    selected, sobject, rest = match.groups()
    rest = re.sub(r"'(?:[^'\\]|\\.)*'", "''", rest)  # literals name no field
    named = {f.strip() for f in selected.split(",")} - {"COUNT()"}
    named |= set(re.findall(r"\b([A-Za-z_]\w*)\s*(?:!=|<=|>=|=|<|>|\bNOT\s+IN\b|\bIN\b)",
                            rest))
    order = re.search(r"(?is)\border\s+by\s+(.*?)(?:\blimit\b|$)", rest)
    if order:
        named |= {item.split()[0] for item in order.group(1).split(",") if item.strip()}
    return sobject, named - {"NOT"}


def undocumented_fields(soql: str) -> list[str]:
    """The fields (and `Relationship.Field` paths) a query names that its object lacks."""
    sobject, named = soql_fields(soql)
    wrong = []
    for name in named:
        relationship, _, parent_field = name.rpartition(".")
        parent = DOCUMENTED_RELATIONSHIPS.get((sobject, relationship)) if relationship else sobject
        if parent is None or parent_field not in DOCUMENTED_FIELDS[parent]:
            wrong.append(name)
    return sorted(wrong)


@dataclass
class Exchange:
    method: str
    url: str
    body: Any
    status: int
    answer: Any
    headers: dict[str, str] = field(default_factory=dict)  # sent, less Authorization


@dataclass
class Recorder:
    """Every request a `requests.Session` sends and the answer it gets (a response hook:
    the real library, observed, not replaced)."""

    exchanges: list[Exchange] = field(default_factory=list)

    def attach(self, session: requests.Session) -> Recorder:
        session.hooks["response"].append(self._hook)
        return self

    def _hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        body = json.loads(request.body) if request.body else None
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        self.exchanges.append(Exchange(str(request.method), str(request.url), body,
                                       response.status_code, answer, headers))

    def to(self, fragment: str) -> list[Exchange]:
        return [e for e in self.exchanges if fragment in urlsplit(e.url).path]

    def queries(self) -> list[Exchange]:
        return [e for e in self.exchanges if "/query" in urlsplit(e.url).path]
