"""Contract: every HubSpot call the Sequences adapter makes, pinned to HubSpot's documents.

For each call seqguard's HubSpot sequencer makes (tasks/post/sequencers/hubspot.py) the request
it sends and the response it reads are compared with the example shapes HubSpot publishes,
written out below from the pages named beside them (and the OpenAPI descriptions HubSpot
publishes at github.com/HubSpot/HubSpot-public-api-spec-collection, PublicApiSpecs/...).
The calls run through the adapter's own code against the sandbox over HTTPS; a requests
response hook (the library's documented hook, not a patch) records what went over the wire.

A shape matches when it has no field the example lacks, every field has the example's
type (an ISO date-time where the example shows one), lists match item by item, and the
fields the docs mark required (and the ones seqguard reads) are present.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest
import requests

from sandbox.client import SandboxClient
from tasks.core.config import sandbox_config
from tasks.post.sequencers.base import CHANGE_SCHEMA
from tasks.post.sequencers.hubspot import UNENROLL_PROPERTIES, HubSpotSequencer
from tasks.sync.hubspot.settings import SEQUENCE_PROPERTIES
from tasks.sync.limiter import RateLimiter
from tests.contract import support
from tests.contract.support import checker

NOW = datetime(2026, 3, 2, 9, 0)
OWNER = "avery.nguyen@seqguard-sandbox.test"  # a seeded owner, with a HubSpot user
DOCS = "https://developers.hubspot.com/docs/api-reference/legacy/"
SPECS = "github.com/HubSpot/HubSpot-public-api-spec-collection PublicApiSpecs/"
DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z")
EXAMPLE_TIME = "2023-11-07T05:31:56Z"


# GET /automation/v4/sequences?userId= (DOCS automation/sequences/get-sequences; SPECS
# Automation/Sequences/Rollouts/177891/v4/sequences.json: query userId (required), after,
# limit, name; CollectionResponseWithTotalPublicSequenceLiteResponse)
LIST_QUERY = {"userId": "<string>", "after": "<string>", "limit": 0, "name": "<string>"}
LIST_ANSWER = {
    "results": [{"createdAt": EXAMPLE_TIME, "id": "<string>", "name": "<string>",
                 "updatedAt": EXAMPLE_TIME, "userId": "<string>", "folderId": "<string>"}],
    "total": 123,
    "paging": {"next": {"after": "<string>", "link": "<string>"}},
}
LIST_REQUIRED = ("results", "total")
SEQUENCE_REQUIRED = ("createdAt", "id", "name", "updatedAt", "userId")

# POST /automation/v4/sequences/enrollments?userId= (DOCS automation/sequences/
# enroll-contact: PublicSequenceEnrollmentRequest -> PublicSequenceEnrollmentLiteResponse)
ENROLL_QUERY = {"userId": "<string>"}
ENROLL_BODY = {"contactId": "<string>", "senderEmail": "<string>", "sequenceId": "<string>",
               "senderAliasAddress": "<string>"}
ENROLL_BODY_REQUIRED = ("contactId", "senderEmail", "sequenceId")
ENROLL_ANSWER = {"enrolledAt": EXAMPLE_TIME, "id": "<string>", "toEmail": "<string>",
                 "updatedAt": EXAMPLE_TIME}

# GET /automation/v4/sequences/enrollments/contact/{contactId} (DOCS automation/sequences/
# get-enrollment: path contactId only, no query; PublicSequenceEnrollmentResponse, every
# field required)
STATUS_ANSWER = {"enrolledAt": EXAMPLE_TIME, "enrolledBy": "<string>",
                 "enrolledByEmail": "<string>", "id": "<string>", "sequenceId": "<string>",
                 "sequenceName": "<string>", "toEmail": "<string>", "updatedAt": EXAMPLE_TIME}

# every v4 error ("default" response; SPECS .../v4/sequences.json components.schemas.Error)
ERROR_REQUIRED = ("category", "correlationId", "message")

# GET /crm/v3/owners?email=&limit= (SPECS CRM/Crm Owners/Rollouts/146888/v3/crmOwners.json;
# seqguard reads results[].userId)
OWNERS_QUERY = {"after": "<string>", "archived": False, "email": "<string>", "limit": 0}
OWNERS_ANSWER = {
    "results": [{"id": "<string>", "email": "<string>", "type": "PERSON",
                 "firstName": "<string>", "lastName": "<string>", "userId": 123,
                 "userIdIncludingInactive": 123, "createdAt": EXAMPLE_TIME,
                 "updatedAt": EXAMPLE_TIME, "archived": False,
                 "teams": [{"id": "<string>", "name": "<string>", "primary": True}]}],
    "paging": {"next": {"after": "<string>", "link": "<string>"}},
}

# GET and POST /crm/v3/properties/contacts (SPECS CRM/Properties/Rollouts/145899/v3/
# properties.json: CollectionResponseProperty, PropertyCreate -> Property; seqguard reads
# results[].name)
PROPERTY = {
    "name": "<string>", "label": "<string>", "type": "string", "fieldType": "text",
    "description": "<string>", "groupName": "<string>", "displayOrder": 0,
    "options": [{"label": "<string>", "value": "<string>", "displayOrder": 0,
                 "hidden": False, "description": "<string>"}],
    "createdAt": EXAMPLE_TIME, "updatedAt": EXAMPLE_TIME, "archivedAt": EXAMPLE_TIME,
    "archived": False, "calculated": False, "calculationFormula": "<string>",
    "createdUserId": "<string>", "updatedUserId": "<string>", "currencyPropertyName": "<string>",
    "dataSensitivity": "non_sensitive", "dateDisplayHint": "absolute",
    "externalOptions": False, "formField": True, "hasUniqueValue": False, "hidden": False,
    "hubspotDefined": True, "numberDisplayHint": "unformatted",
    "referencedObjectType": "<string>", "sensitiveDataCategories": ["<string>"],
    "showCurrencySymbol": False, "textDisplayHint": "unformatted_single_line",
    "modificationMetadata": {"archivable": True, "readOnlyDefinition": True,
                             "readOnlyOptions": False, "readOnlyValue": False},
}
PROPERTY_REQUIRED = ("description", "fieldType", "groupName", "label", "name", "options",
                     "type")
PROPERTIES_ANSWER = {"results": [PROPERTY]}
PROPERTY_CREATE = {
    "name": "<string>", "label": "<string>", "type": "string", "fieldType": "text",
    "groupName": "<string>", "description": "<string>", "displayOrder": 0,
    "options": [{"label": "<string>", "value": "<string>", "displayOrder": 0,
                 "hidden": False, "description": "<string>"}],
    "calculationFormula": "<string>", "currencyPropertyName": "<string>",
    "dataSensitivity": "non_sensitive", "externalOptions": False, "formField": True,
    "hasUniqueValue": False, "hidden": False, "numberDisplayHint": "unformatted",
    "referencedObjectType": "<string>", "showCurrencySymbol": False,
    "textDisplayHint": "unformatted_single_line",
}
PROPERTY_CREATE_REQUIRED = ("fieldType", "groupName", "label", "name", "type")
PROPERTY_TYPES = {"bool", "date", "datetime", "enumeration", "number", "phone_number", "string"}
FIELD_TYPES = {"booleancheckbox", "calculation_equation", "checkbox", "date", "file", "html",
               "number", "phonenumber", "radio", "select", "text", "textarea"}

# POST /crm/v3/objects/contacts/batch/update and .../batch/read (DOCS crm/objects/contacts/
# batch/update-contacts and read-contacts; SPECS CRM/Contacts/Rollouts/424/v3/contacts.json:
# BatchInputSimplePublicObjectBatchInput, BatchReadInputSimplePublicObjectId ->
# BatchResponseSimplePublicObject, 207 BatchResponseSimplePublicObjectWithErrors)
BATCH_UPDATE_BODY = {"inputs": [{"id": "<string>", "properties": {},
                                 "idProperty": "<string>", "objectWriteTraceId": "<string>"}]}
BATCH_READ_BODY = {"inputs": [{"id": "<string>"}], "properties": ["<string>"],
                   "propertiesWithHistory": ["<string>"], "idProperty": "<string>"}
BATCH_READ_REQUIRED = ("inputs", "properties", "propertiesWithHistory")
RECORD = {"id": "<string>", "properties": {}, "createdAt": EXAMPLE_TIME,
          "updatedAt": EXAMPLE_TIME, "archived": False, "archivedAt": EXAMPLE_TIME,
          "objectWriteTraceId": "<string>", "propertiesWithHistory": {}, "url": "<string>"}
BATCH_ERROR = {"category": "<string>", "context": {}, "errors": [
    {"message": "<string>", "code": "<string>", "context": {}, "in": "<string>",
     "subCategory": "<string>"}], "links": {}, "message": "<string>", "status": "<string>",
    "id": "<string>", "subCategory": {}}
BATCH_ANSWER = {"completedAt": EXAMPLE_TIME, "results": [RECORD], "startedAt": EXAMPLE_TIME,
                "status": "COMPLETE", "errors": [BATCH_ERROR], "links": {}, "numErrors": 123,
                "requestedAt": EXAMPLE_TIME}
BATCH_REQUIRED = ("completedAt", "results", "startedAt", "status")
BATCH_STATUSES = {"CANCELED", "COMPLETE", "PENDING", "PROCESSING"}



assert_documented = checker({EXAMPLE_TIME: (DATE_TIME, "an ISO date-time")})


def assert_has(value: dict, required: tuple[str, ...], where: str = "body") -> None:
    missing = [k for k in required if k not in value]
    assert not missing, f"{where}: documented as required but missing: {missing}"


class Exchange(support.Exchange):
    """A HubSpot call: one value per query parameter, the body as JSON."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response)
        self.query = {k: v[0] for k, v in self.params.items()}
        body = response.request.body
        self.body = json.loads(body) if body else None

    def typed_query(self) -> dict[str, Any]:
        """Query values as the documented types (`limit` is an integer)."""
        return {k: int(v) if k == "limit" else v for k, v in self.query.items()}


def recorded(adapter: HubSpotSequencer) -> list[Exchange]:
    """Every call the adapter makes on this thread, in order (a requests response hook)."""
    calls: list[Exchange] = []
    adapter.http.session().hooks["response"].append(
        lambda response, *args, **kwargs: calls.append(Exchange(response)))
    return calls


def only(calls: list[Exchange], method: str, path: str) -> list[Exchange]:
    return [c for c in calls if c.method == method and c.path == path]



@pytest.fixture
def hubspot(sandbox: SandboxClient) -> HubSpotSequencer:
    """The adapter on an account with two sequences and three contacts."""
    support.small_account(sandbox, NOW)
    config = sandbox_config(sandbox.url, sandbox.cert)
    assert config.hubspot is not None
    return HubSpotSequencer(config.hubspot, RateLimiter(limit=None))


def changes(kind: str, contact_ids: list[str], sequence_id: str = "101") -> pa.Table:
    return pa.Table.from_pylist([
        {"change_id": f"c{c}", "kind": kind, "sequence_id": sequence_id,
         "email": f"p{c}@example.com", "contact_id": c, "sender": OWNER,
         "reason": "open deal: Acme renewal"} for c in contact_ids], schema=CHANGE_SCHEMA)



def test_list_sequences_sends_the_documented_query_and_follows_the_opaque_cursor(
        sandbox: SandboxClient, hubspot: HubSpotSequencer) -> None:
    sandbox.define_sequences([{"id": str(200 + i), "name": f"Extra {i}", "steps": []}
                              for i in range(120)])
    calls = recorded(hubspot)
    listed = hubspot.sequences()
    assert listed.num_rows == 122

    [owners] = only(calls, "GET", "/crm/v3/owners")  # the user the call is made for
    assert_documented(owners.typed_query(), OWNERS_QUERY, "owners query")
    assert_documented(owners.answer, OWNERS_ANSWER, "owners answer")
    pages = only(calls, "GET", "/automation/v4/sequences")
    assert len(pages) == 2
    for page in pages:
        assert page.body is None
        assert_documented(page.typed_query(), LIST_QUERY, "list query")
        assert_has(page.query, ("userId",), "list query")
        assert page.query["userId"] == str(owners.answer["results"][0]["userId"])
        assert_documented(page.answer, LIST_ANSWER, "list answer")
        assert_has(page.answer, LIST_REQUIRED, "list answer")
        for item in page.answer["results"]:
            assert_has(item, SEQUENCE_REQUIRED, "list answer result")
    # the cursor is handed back exactly as HubSpot gave it, never parsed
    assert pages[1].query["after"] == pages[0].answer["paging"]["next"]["after"]
    assert "after" not in pages[0].query and "paging" not in pages[1].answer


def test_enroll_sends_the_documented_body_and_reads_the_enrollment_id(
        hubspot: HubSpotSequencer) -> None:
    calls = recorded(hubspot)
    [result] = hubspot.enroll(changes("enroll", ["1"])).to_pylist()

    [owner] = only(calls, "GET", "/crm/v3/owners")
    assert owner.query == {"email": OWNER, "limit": "100"}
    [call] = only(calls, "POST", "/automation/v4/sequences/enrollments")
    assert_documented(call.query, ENROLL_QUERY, "enroll query")
    assert call.query["userId"] == str(owner.answer["results"][0]["userId"])
    assert_documented(call.body, ENROLL_BODY, "enroll body")
    assert_has(call.body, ENROLL_BODY_REQUIRED, "enroll body")
    assert call.body == {"contactId": "1", "sequenceId": "101", "senderEmail": OWNER}
    assert call.status == 200
    assert_documented(call.answer, ENROLL_ANSWER, "enroll answer")
    assert_has(call.answer, tuple(ENROLL_ANSWER), "enroll answer")
    assert (result["outcome"], result["enrollment_id"]) == ("sent", call.answer["id"])


def test_a_refused_enroll_is_read_from_the_documented_error(hubspot: HubSpotSequencer) -> None:
    hubspot.enroll(changes("enroll", ["1"]))
    calls = recorded(hubspot)
    [result] = hubspot.enroll(changes("enroll", ["1"], sequence_id="102")).to_pylist()
    [call] = only(calls, "POST", "/automation/v4/sequences/enrollments")
    assert call.status == 400
    assert_has(call.answer, ERROR_REQUIRED, "enroll error")
    assert result["outcome"] == "rejected"
    assert result["error"] == f"{call.answer['subCategory']}: {call.answer['message']}"


def test_the_status_call_sends_no_user_id_and_reads_only_documented_fields(
        hubspot: HubSpotSequencer) -> None:
    hubspot.enroll(changes("enroll", ["1"]))
    calls = recorded(hubspot)
    read = hubspot.enrollments(None, pa.table({"contact_id": ["1"]})).to_pylist()

    # first, once: the account's contact properties, to confirm the sequence ones exist
    [properties] = only(calls, "GET", "/crm/v3/properties/contacts")
    assert properties.query == {} and properties.body is None
    assert_documented(properties.answer, PROPERTIES_ANSWER, "properties answer")
    names = set()
    for item in properties.answer["results"]:
        assert_has(item, PROPERTY_REQUIRED, "property")
        names.add(item["name"])
    assert set(SEQUENCE_PROPERTIES) <= names

    [call] = only(calls, "GET", "/automation/v4/sequences/enrollments/contact/1")
    assert call.query == {} and call.body is None  # no userId: not a parameter of this call
    assert_documented(call.answer, STATUS_ANSWER, "status answer")
    assert_has(call.answer, tuple(STATUS_ANSWER), "status answer")
    # what seqguard takes from it: which enrollment, which sequence, enrolled when; the
    # state is only "the one the contact is in" and the step is unknown
    assert read == [{
        "enrollment_id": call.answer["id"], "sequence_id": "101", "email": "p1@example.com",
        "contact_id": "1", "state": "active", "step": None,
        "enrolled_at": NOW, "updated_at": NOW}]


def test_a_contact_in_no_sequence_is_hubspots_error_and_reads_as_nothing(
        hubspot: HubSpotSequencer) -> None:
    calls = recorded(hubspot)
    assert hubspot.enrollments(None, pa.table({"contact_id": ["2"]})).num_rows == 0
    [call] = only(calls, "GET", "/automation/v4/sequences/enrollments/contact/2")
    assert call.status == 404
    assert_has(call.answer, ERROR_REQUIRED, "status error")


def test_the_unenroll_properties_are_created_with_the_documented_body(
        hubspot: HubSpotSequencer) -> None:
    calls = recorded(hubspot)
    hubspot.prepare({"unenroll"})
    creates = only(calls, "POST", "/crm/v3/properties/contacts")
    assert [c.body["name"] for c in creates] == list(UNENROLL_PROPERTIES)
    for call in creates:
        assert_documented(call.body, PROPERTY_CREATE, "property create")
        assert_has(call.body, PROPERTY_CREATE_REQUIRED, "property create")
        assert call.body["type"] in PROPERTY_TYPES
        assert call.body["fieldType"] in FIELD_TYPES
        assert call.status == 201
        assert_documented(call.answer, PROPERTY, "created property")
        assert_has(call.answer, PROPERTY_REQUIRED, "created property")
    # known from the list read once: a second prepare sends nothing
    calls.clear()
    hubspot.prepare({"unenroll"})
    assert calls == []


def test_the_unenroll_write_and_its_read_back_use_the_documented_batch_shapes(
        hubspot: HubSpotSequencer) -> None:
    hubspot.enroll(changes("enroll", ["1", "2"]))
    hubspot.prepare({"unenroll"})
    calls = recorded(hubspot)
    answers = hubspot.unenroll(changes("unenroll", ["1", "2"])).to_pylist()

    [write] = only(calls, "POST", "/crm/v3/objects/contacts/batch/update")
    assert_documented(write.body, BATCH_UPDATE_BODY, "batch update body")
    assert [i["id"] for i in write.body["inputs"]] == ["1", "2"]
    for item in write.body["inputs"]:
        assert_has(item, ("id", "properties"), "batch update input")
        assert set(item["properties"]) == set(UNENROLL_PROPERTIES)
        assert item["properties"]["seqguard_unenroll_sequence"] == "101"
        assert item["properties"]["seqguard_unenroll_reason"].startswith(
            f"c{item['id']} open deal")
        assert all(isinstance(v, str) for v in item["properties"].values())
    assert write.status == 200
    assert_documented(write.answer, BATCH_ANSWER, "batch update answer")
    assert_has(write.answer, BATCH_REQUIRED, "batch update answer")
    assert write.answer["status"] in BATCH_STATUSES
    assert [a["outcome"] for a in answers] == ["sent", "sent"]

    calls.clear()
    seen = hubspot.written(changes("unenroll", ["1", "2", "3"]))
    [read] = only(calls, "POST", "/crm/v3/objects/contacts/batch/read")
    assert_documented(read.body, BATCH_READ_BODY, "batch read body")
    assert_has(read.body, BATCH_READ_REQUIRED, "batch read body")
    assert read.body["properties"] == ["seqguard_unenroll_reason"]
    assert_documented(read.answer, BATCH_ANSWER, "batch read answer")
    assert_has(read.answer, BATCH_REQUIRED, "batch read answer")
    for record in read.answer["results"]:
        assert_has(record, ("archived", "createdAt", "id", "properties", "updatedAt"),
                   "batch read result")
    assert sorted(seen.column("change_id").to_pylist()) == ["c1", "c2"]


def test_a_partial_batch_reads_the_failed_ids_from_the_documented_207(
        hubspot: HubSpotSequencer) -> None:
    hubspot.prepare({"unenroll"})
    calls = recorded(hubspot)
    answers = hubspot.unenroll(changes("unenroll", ["1", "999"])).to_pylist()
    [write] = only(calls, "POST", "/crm/v3/objects/contacts/batch/update")
    assert write.status == 207
    assert_has(write.answer, BATCH_REQUIRED, "207 answer")
    [error] = write.answer["errors"]
    # what seqguard reads of it: the category, the message and the ids it names
    assert_has(error, ("category", "message", "context"), "207 error")
    assert isinstance(error["category"], str) and isinstance(error["message"], str)
    assert error["context"]["ids"] == ["999"]
    assert [(a["change_id"], a["outcome"]) for a in answers] == [
        ("c1", "sent"), ("c999", "rejected")]
    assert answers[1]["error"] == f"{error['category']}: {error['message']}"
