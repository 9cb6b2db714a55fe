"""Salesforce sObjects, default fields, cursor field, page size and limits."""

from __future__ import annotations

from datetime import timedelta

# the sObjects synced into raw_salesforce, in the order they are fetched
OBJECTS = ("User", "Account", "Contact", "Lead", "Opportunity", "OpportunityContactRole",
           "Task", "Event", "ActionCadenceTracker")

_RECORD = ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp")
# the fields of each raw table, beyond seqguard.yml's custom ones: every one a field of the
# object in the Object Reference for the Salesforce Platform
# (https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/);
# Task has no cadence field (a cadence's own Tasks have TaskSubtype 'Cadence'), and a
# tracker names its steps by step-tracker id, not by number
DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "User": _RECORD + ("Username", "Email", "FirstName", "LastName", "IsActive"),
    "Account": _RECORD + ("Name", "Website", "Type", "Industry", "OwnerId"),
    "Contact": _RECORD + ("FirstName", "LastName", "Email", "AccountId", "OwnerId",
                          "HasOptedOutOfEmail", "EmailBouncedReason", "EmailBouncedDate",
                          "Title"),
    "Lead": _RECORD + ("FirstName", "LastName", "Email", "Company", "Website", "Status",
                       "IsConverted", "ConvertedContactId", "OwnerId", "HasOptedOutOfEmail",
                       "EmailBouncedReason", "EmailBouncedDate"),
    "Opportunity": _RECORD + ("Name", "AccountId", "StageName", "IsClosed", "IsWon", "Amount",
                              "CloseDate", "OwnerId"),
    "OpportunityContactRole": _RECORD + ("OpportunityId", "ContactId", "Role", "IsPrimary"),
    "Task": _RECORD + ("Subject", "WhoId", "WhatId", "OwnerId", "Status", "TaskSubtype", "Type",
                       "Description", "ActivityDate", "CompletedDateTime"),
    "Event": _RECORD + ("Subject", "WhoId", "WhatId", "OwnerId", "StartDateTime",
                        "EndDateTime"),
    "ActionCadenceTracker": _RECORD + ("ActionCadenceId", "TargetId", "OwnerId", "State",
                                       "CompletionReason", "IsTrackerActive", "CurrentStepId",
                                       "LastCompletedStepId"),
}

CURSOR_FIELD = "SystemModstamp"
TOMBSTONE_FIELD = "IsDeleted"

# describe type -> raw column type; anything else is varchar
COLUMN_TYPES = {
    "boolean": "boolean", "double": "double", "currency": "double", "percent": "double",
    "int": "double", "long": "double", "date": "date", "datetime": "timestamp",
}
PICKLIST_TYPES = ("picklist", "multipicklist")

QUERY_ALL_PATH = "queryAll/"  # includes IsDeleted rows: the tombstones
BATCH_SIZE = 2_000  # records per query page (Sforce-Query-Options)

# an incremental query starts this far before the watermark; re-merging is harmless
OVERLAP = timedelta(minutes=5)

RATE_LIMIT_PER_10S: int | None = None  # Salesforce limits per day, not per window
MAX_CONCURRENCY = 4
REQUEST_TIMEOUT = (10, 120)
