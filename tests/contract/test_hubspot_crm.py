"""Contract: every HubSpot CRM call the sync makes, pinned to HubSpot's API reference.

For each call: the request seqguard's client puts on the wire (seen by a response hook
on its own session, or in the sandbox's request log for hubspot-api-client's calls) is
compared with the documented request, the sandbox's answer with the documented response
(shapes below, written from the reference pages and the OpenAPI specs HubSpot publishes
in HubSpot/HubSpot-public-api-spec-collection, not from the sandbox), every field
seqguard reads must be a documented one, and the same answer must parse through
hubspot-api-client's own models (generated from those specs). A new call without a test
here fails review.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import hubspot
import orjson
import pytest
import requests
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest

from sandbox.client import SandboxClient
from tasks.core.config import sandbox_config
from tasks.core.errors import ConfigError, SyncError
from tasks.sync.hubspot import settings
from tasks.sync.hubspot.client import (
    HubSpotClient,
    continuation_inputs,
    error_detail,
    failed_inputs,
)
from tasks.sync.hubspot.sync import latest_modified, search_pages
from tasks.sync.limiter import RateLimiter

NOW = datetime(2026, 3, 2, 9, 0, 0)

# ---- the reference, as shapes ---------------------------------------------------------

SPECS = "https://github.com/HubSpot/HubSpot-public-api-spec-collection/blob/main/PublicApiSpecs/CRM"
OBJECTS_SPEC = f"{SPECS}/Contacts/Rollouts/424/v3/contacts.json"
ASSOCIATIONS_SPEC = f"{SPECS}/Associations/Rollouts/130902/v4/associations.json"
PROPERTIES_SPEC = f"{SPECS}/Properties/Rollouts/145899/v3/properties.json"
OWNERS_SPEC = f"{SPECS}/Crm Owners/Rollouts/146888/v3/crmOwners.json"
SEARCH_GUIDE = "https://developers.hubspot.com/docs-beta/crm/search"
BATCH_READ_PAGE = ("https://developers.hubspot.com/docs/api-reference/legacy/crm/associations/"
                   "associate-records/batch/get-associations")
ERRORS_PAGE = "https://developers.hubspot.com/docs/api-reference/error-handling"
USAGE_PAGE = "https://developers.hubspot.com/docs/api/usage-details"


class DateTime:
    """A string in ISO 8601 (the specs' `format: date-time`)."""


class Nullable:
    """A documented string that may come back null."""


class PropertyValues:
    """A record's `properties`: property name -> its value as text, or null."""


@dataclass(frozen=True)
class Doc:
    """A JSON object as a reference page documents it: every field it may carry (with the
    field's shape) and the ones it must carry."""

    page: str
    fields: dict[str, Any]
    required: frozenset[str] = field(default_factory=frozenset)


def doc(page: str, required: dict[str, Any], optional: dict[str, Any] | None = None) -> Doc:
    return Doc(page, {**required, **(optional or {})}, frozenset(required))


def problems(value: Any, shape: Any, at: str = "$") -> list[str]:
    """Where `value` departs from `shape`: undocumented or missing fields, wrong types."""
    if isinstance(shape, Doc):
        if not isinstance(value, dict):
            return [f"{at}: not an object"]
        found = [f"{at}.{k}: not in {shape.page}" for k in value if k not in shape.fields]
        found += [f"{at}.{k}: required by {shape.page}" for k in shape.required
                  if k not in value]
        return found + [p for k, v in value.items() if k in shape.fields
                        for p in problems(v, shape.fields[k], f"{at}.{k}")]
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{at}: not an array"]
        return [p for i, v in enumerate(value) for p in problems(v, shape[0], f"{at}[{i}]")]
    if isinstance(shape, frozenset):
        return [] if value in shape else [f"{at}: {value!r} not one of {sorted(shape)}"]
    if shape is DateTime:
        try:
            datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            return []
        except ValueError:
            return [f"{at}: {value!r} is not a date-time"]
    if shape is Nullable:
        return [] if value is None or isinstance(value, str) else [f"{at}: not a string"]
    if shape is PropertyValues:
        if not isinstance(value, dict):
            return [f"{at}: not an object"]
        return [f"{at}.{k}: not text" for k, v in value.items()
                if v is not None and not isinstance(v, str)]
    if shape is dict:  # a documented free-form object
        return [] if isinstance(value, dict) else [f"{at}: not an object"]
    wrong = not isinstance(value, shape) or (shape is int and isinstance(value, bool))
    return [f"{at}: {type(value).__name__} is not {shape.__name__}"] if wrong else []


def documented(shape: Any, path: str) -> bool:
    """Whether a field seqguard reads (`results[].paging.next.after`) is in the shape."""
    for part in path.split("."):
        name = part.removesuffix("[]")
        if not isinstance(shape, Doc) or name not in shape.fields:
            return False
        shape = shape.fields[name]
        if part.endswith("[]"):
            if not isinstance(shape, list):
                return False
            shape = shape[0]
    return True


NEXT_PAGE = doc(OBJECTS_SPEC, {"after": str}, {"link": str})
FORWARD_PAGING = doc(OBJECTS_SPEC, {}, {"next": NEXT_PAGE})
PAGING = doc(OBJECTS_SPEC, {}, {"next": NEXT_PAGE,
                                "prev": doc(OBJECTS_SPEC, {"before": str}, {"link": str})})
PROPERTY_VALUES = PropertyValues
RECORD_FIELDS = {"archivedAt": DateTime, "objectWriteTraceId": str,
                 "propertiesWithHistory": dict, "url": str, "warnings": list}
RECORD = doc(OBJECTS_SPEC, {"archived": bool, "createdAt": DateTime, "id": str,
                            "properties": PROPERTY_VALUES, "updatedAt": DateTime},
             RECORD_FIELDS)  # SimplePublicObject
RECORD_WITH_ASSOCIATIONS = doc(OBJECTS_SPEC, {
    "archived": bool, "createdAt": DateTime, "id": str, "properties": PROPERTY_VALUES,
    "updatedAt": DateTime}, {**RECORD_FIELDS, "associations": dict})
LIST_RESPONSE = doc(OBJECTS_SPEC, {"results": [RECORD_WITH_ASSOCIATIONS]},
                    {"paging": FORWARD_PAGING})
SEARCH_RESPONSE = doc(OBJECTS_SPEC, {"results": [RECORD], "total": int}, {"paging": PAGING})
OPERATORS = frozenset({"BETWEEN", "CONTAINS_TOKEN", "EQ", "GT", "GTE", "HAS_PROPERTY", "IN",
                       "LT", "LTE", "NEQ", "NOT_CONTAINS_TOKEN", "NOT_HAS_PROPERTY", "NOT_IN"})
FILTER = doc(OBJECTS_SPEC, {"operator": OPERATORS, "propertyName": str},
             {"highValue": str, "value": str, "values": [str]})
SORT = doc(SEARCH_GUIDE, {"propertyName": str},
           {"direction": frozenset({"ASCENDING", "DESCENDING"})})
# the spec lists `after` as required too; the guide's first-page examples leave it out
SEARCH_REQUEST = doc(OBJECTS_SPEC, {
    "filterGroups": [doc(OBJECTS_SPEC, {"filters": [FILTER]})], "limit": int,
    "properties": [str], "sorts": [SORT]}, {"after": str, "query": str})
ERROR_DETAIL = doc(OBJECTS_SPEC, {"message": str},
                   {"code": str, "context": dict, "in": str, "subCategory": str})
STANDARD_ERROR = doc(ASSOCIATIONS_SPEC, {
    "category": str, "context": dict, "errors": [ERROR_DETAIL], "links": dict, "message": str,
    "status": str}, {"id": str, "subCategory": dict})
ASSOCIATION_TYPE = doc(ASSOCIATIONS_SPEC, {
    "category": frozenset({"HUBSPOT_DEFINED", "INTEGRATOR_DEFINED", "USER_DEFINED", "WORK"}),
    "typeId": int}, {"fromObjectTypeId": str, "label": Nullable, "toObjectTypeId": str})
ASSOCIATION_RESULT = doc(BATCH_READ_PAGE, {
    "from": doc(ASSOCIATIONS_SPEC, {"id": str}),
    "to": [doc(ASSOCIATIONS_SPEC, {"associationTypes": [ASSOCIATION_TYPE],
                                   "toObjectId": str})]}, {"paging": PAGING})
ASSOCIATION_BATCH_REQUEST = doc(BATCH_READ_PAGE, {
    "inputs": [doc(ASSOCIATIONS_SPEC, {"id": str}, {"after": str})]})
ASSOCIATION_BATCH_RESPONSE = doc(BATCH_READ_PAGE, {
    "completedAt": DateTime, "results": [ASSOCIATION_RESULT], "startedAt": DateTime,
    "status": frozenset({"CANCELED", "COMPLETE", "PENDING", "PROCESSING"})},
    {"errors": [STANDARD_ERROR], "links": dict, "numErrors": int, "requestedAt": DateTime})
OPTION = doc(PROPERTIES_SPEC, {"hidden": bool, "label": str, "value": str},
             {"description": str, "displayOrder": int})
PROPERTY = doc(PROPERTIES_SPEC, {
    "description": str, "fieldType": str, "groupName": str, "label": str, "name": str,
    "options": [OPTION], "type": str}, {
    "archived": bool, "archivedAt": DateTime, "calculated": bool, "calculationFormula": str,
    "createdAt": DateTime, "createdUserId": str, "currencyPropertyName": str,
    "dataSensitivity": str, "dateDisplayHint": str, "displayOrder": int,
    "externalOptions": bool, "formField": bool, "hasUniqueValue": bool, "hidden": bool,
    "hubspotDefined": bool, "modificationMetadata": doc(PROPERTIES_SPEC, {
        "archivable": bool, "readOnlyDefinition": bool, "readOnlyValue": bool},
        {"readOnlyOptions": bool}),
    "numberDisplayHint": str, "referencedObjectType": str, "sensitiveDataCategories": list,
    "showCurrencySymbol": bool, "textDisplayHint": str, "updatedAt": DateTime,
    "updatedUserId": str})
PROPERTIES_RESPONSE = doc(PROPERTIES_SPEC, {"results": [PROPERTY]})
OWNER = doc(OWNERS_SPEC, {"archived": bool, "createdAt": DateTime, "id": str,
                          "type": frozenset({"PERSON", "QUEUE"}), "updatedAt": DateTime},
            {"email": str, "firstName": str, "lastName": str, "teams": list, "userId": int,
             "userIdIncludingInactive": int})
OWNERS_RESPONSE = doc(OWNERS_SPEC, {"results": [OWNER]}, {"paging": FORWARD_PAGING})
ERROR = doc(ERRORS_PAGE, {"category": str, "correlationId": str, "message": str},
            {"context": dict, "errors": [ERROR_DETAIL], "links": dict, "status": str,
             "subCategory": str})  # the specs' `Error`; `status` from the page's example
RATE_LIMITED = doc(USAGE_PAGE, {"category": str, "correlationId": str, "errorType": str,
                                "message": str, "policyName": str, "status": str})

# the fields seqguard reads from each answer (tasks/sync/hubspot/sync.py and client.py)
READS = [
    (LIST_RESPONSE, ["results[].id", "results[].createdAt", "results[].updatedAt",
                     "results[].archived", "results[].archivedAt", "results[].properties",
                     "paging.next.after"]),
    (SEARCH_RESPONSE, ["total", "results[].id", "results[].updatedAt",
                       "results[].properties", "paging.next.after"]),
    (ASSOCIATION_BATCH_RESPONSE, ["results[].from.id", "results[].to[].toObjectId",
                                  "results[].paging.next.after", "errors[].category"]),
    (PROPERTIES_RESPONSE, ["results[].name", "results[].type", "results[].fieldType",
                           "results[].options[].label", "results[].options[].value",
                           "results[].options[].displayOrder"]),
    (OWNERS_RESPONSE, ["results[].id", "results[].email", "results[].firstName",
                       "results[].lastName", "paging.next.after"]),
    (ERROR, ["category", "message"]), (RATE_LIMITED, ["policyName", "category", "message"]),
]


def test_every_field_seqguard_reads_is_documented() -> None:
    undocumented = [(shape.page, path) for shape, paths in READS for path in paths
                    if not documented(shape, path)]
    assert undocumented == []


def test_the_shape_check_finds_extra_missing_and_mistyped_fields() -> None:
    page = {"results": [{"id": 7, "createdAt": "yesterday", "archived": False,
                         "properties": {"n": 1}, "updatedAt": "2026-03-02T09:00:00Z",
                         "state": "ACTIVE"}], "total": 1}
    assert problems(page, LIST_RESPONSE) == [
        "$.total: not in " + OBJECTS_SPEC, "$.results[0].state: not in " + OBJECTS_SPEC,
        "$.results[0].id: int is not str", "$.results[0].createdAt: 'yesterday' is not a "
        "date-time", "$.results[0].properties.n: not text"]
    assert sorted(problems({}, SEARCH_RESPONSE)) == [
        f"$.results: required by {OBJECTS_SPEC}", f"$.total: required by {OBJECTS_SPEC}"]


# ---- the calls -------------------------------------------------------------------------


@dataclass
class Wire:
    """seqguard's client, with what it sent and received (a hook on its own session)."""

    client: HubSpotClient
    seen: list[requests.Response]

    def sent(self, path_end: str) -> list[requests.Response]:
        return [r for r in self.seen if urlsplit(r.request.url or "").path.endswith(path_end)]


@pytest.fixture
def empty(sandbox: SandboxClient) -> SandboxClient:
    sandbox.reset(now=NOW.isoformat())
    return sandbox


@pytest.fixture
def wire(sandbox: SandboxClient) -> Wire:
    client = HubSpotClient(sandbox_config(sandbox.url, sandbox.cert).hubspot,  # type: ignore[arg-type]
                           RateLimiter(limit=None))
    seen: list[requests.Response] = []
    client.session.hooks["response"].append(lambda response, *a, **k: seen.append(response))
    return Wire(client, seen)


def query_of(response: requests.Response) -> dict[str, list[str]]:
    return parse_qs(urlsplit(response.request.url or "").query)


def body_of(response: requests.Response) -> Any:
    return orjson.loads(response.request.body or b"null")


def test_list_sends_documented_params_and_hands_the_cursor_back_unread(
        empty: SandboxClient, wire: Wire, hubspot_client: hubspot.HubSpot) -> None:
    empty.upsert_hubspot("contacts", [{"properties": {"email": f"p{i}@x.example"}}
                                      for i in range(150)])
    pages = list(wire.client.list_pages("contacts", ["email", "firstname"]))
    assert [n for _, n in pages] == [100, 50]
    first, second = wire.sent("/crm/v3/objects/contacts")
    assert first.request.method == "GET"
    assert query_of(first) == {"limit": ["100"], "properties": ["email,firstname"],
                               "archived": ["false"]}
    token = first.json()["paging"]["next"]["after"]
    assert query_of(second) == {**query_of(first), "after": [token]}
    for response in (first, second):
        assert problems(response.json(), LIST_RESPONSE) == []
    # the same page through hubspot-api-client's generated models
    page = hubspot_client.crm.contacts.basic_api.get_page(limit=100, properties=["email"],
                                                          after=token)
    assert len(page.results) == 50 and page.paging is None


def test_search_sends_filter_groups_and_hands_the_cursor_back_unread(
        empty: SandboxClient, wire: Wire, hubspot_client: hubspot.HubSpot) -> None:
    empty.upsert_hubspot("contacts", [{"properties": {"email": f"p{i}@x.example"}}
                                      for i in range(250)])
    upper = latest_modified(wire.client, "contacts", ["email"])
    assert upper == NOW
    pages = list(search_pages(wire.client, "contacts", ["email"], NOW - timedelta(hours=1),
                              upper))
    assert sum(n for _, n in pages) == 250
    newest, first, second = wire.sent("/crm/v3/objects/contacts/search")
    assert body_of(newest) == {
        "filterGroups": [], "properties": ["lastmodifieddate"], "limit": 1,
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}]}
    window = [str(int((t - datetime(1970, 1, 1)).total_seconds() * 1000))
              for t in (NOW - timedelta(hours=1), NOW + timedelta(milliseconds=1))]
    assert body_of(first) == {
        "filterGroups": [{"filters": [
            {"propertyName": "lastmodifieddate", "operator": "GTE", "value": window[0]},
            {"propertyName": "lastmodifieddate", "operator": "LT", "value": window[1]}]}],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["email"], "limit": 200}
    assert body_of(second) == {**body_of(first),
                               "after": first.json()["paging"]["next"]["after"]}
    for response in (newest, first, second):
        assert response.request.method == "POST"
        assert problems(body_of(response), SEARCH_REQUEST) == []
        assert problems(response.json(), SEARCH_RESPONSE) == []
    found = hubspot_client.crm.contacts.search_api.do_search(body_of(second))
    assert found.total == 250 and len(found.results) == 50


def test_association_batch_read_follows_each_inputs_cursor(
        empty: SandboxClient, wire: Wire, hubspot_client: hubspot.HubSpot) -> None:
    people = empty.upsert_hubspot("contacts", [{"properties": {"email": f"p{i}@x.example"}}
                                               for i in range(1_200)])
    big, small, bare = empty.upsert_hubspot("deals", [{"properties": {"dealname": n}}
                                                      for n in ("big", "small", "bare")])
    empty.associate([{"from_type": "deals", "from_id": big["id"], "to_type": "contacts",
                      "to_id": p["id"]} for p in people]
                    + [{"from_type": "deals", "from_id": small["id"], "to_type": "contacts",
                        "to_id": people[0]["id"]}])
    ids = [big["id"], small["id"], bare["id"]]
    bodies = list(wire.client.association_pages("deals", "contacts", ids))
    reads = wire.sent("/crm/v4/associations/deals/contacts/batch/read")
    assert len(bodies) == len(reads) == 3
    tokens = [r.json()["results"][0]["paging"]["next"]["after"] for r in reads[:2]]
    assert [body_of(r) for r in reads] == [
        {"inputs": [{"id": i} for i in ids]},
        {"inputs": [{"id": big["id"], "after": tokens[0]}]},
        {"inputs": [{"id": big["id"], "after": tokens[1]}]}]
    assert [r.status_code for r in reads] == [207, 200, 200]  # `bare` has none: an error
    for response in reads:
        assert response.request.method == "POST"
        assert problems(body_of(response), ASSOCIATION_BATCH_REQUEST) == []
        assert problems(response.json(), ASSOCIATION_BATCH_RESPONSE) == []
    got = {t["toObjectId"] for r in reads for result in r.json()["results"]
           if result["from"]["id"] == big["id"] for t in result["to"]}
    assert got == {p["id"] for p in people}
    [error] = reads[0].json()["errors"]
    assert (error["category"], error["context"]) == ("OBJECT_NOT_FOUND",
                                                     {"fromObjectId": [bare["id"]]})
    # the continuation through hubspot-api-client's generated models
    page = hubspot_client.crm.associations.v4.batch_api.get_page(
        "deals", "contacts", BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[{"id": big["id"], "after": tokens[1]}]))
    assert len(page.results[0].to) == 200 and page.results[0].paging is None


def test_properties_and_owners_ask_documented_params_and_read_documented_fields(
        empty: SandboxClient, wire: Wire, sandbox: SandboxClient) -> None:
    sandbox.clear_requests()
    properties = wire.client.properties("contacts")
    owners = wire.client.owners()
    log = [e["path"] for e in sandbox.requests()]
    assert log == ["/crm/v3/properties/contacts", "/crm/v3/owners/?limit=500"]
    stage = next(p for p in properties if p["name"] == "lifecyclestage")
    assert {"customer", "lead"} <= {o["value"] for o in stage["options"]}
    assert owners and all(o["email"] for o in owners)
    session = requests.Session()
    session.verify, session.trust_env = sandbox.cert, False
    headers = {"Authorization": "Bearer sandbox-token"}
    for path, shape in (("/crm/v3/properties/contacts", PROPERTIES_RESPONSE),
                        ("/crm/v3/owners/?limit=500", OWNERS_RESPONSE)):
        assert problems(session.get(sandbox.url + path, headers=headers).json(), shape) == []


def test_object_batch_read_answers_207_with_standard_errors(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    [person] = empty.upsert_hubspot("contacts", [{"properties": {"email": "a@x.example"}}])
    batch = hubspot_client.crm.contacts.batch_api.read(
        hubspot.crm.contacts.BatchReadInputSimplePublicObjectId(
            inputs=[{"id": person["id"]}, {"id": "424242"}], properties=["email"],
            properties_with_history=[]))
    assert [r.id for r in batch.results] == [person["id"]]
    [error] = batch.errors
    assert (error.category, error.context) == ("OBJECT_NOT_FOUND", {"ids": ["424242"]})
    assert error.status == "error" and error.errors == [] and error.links == {}


# ---- refusals and error bodies ---------------------------------------------------------


@pytest.fixture
def raw(sandbox: SandboxClient) -> requests.Session:
    """A plain session (no retries) speaking to the sandbox's HubSpot routes."""
    session = requests.Session()
    session.verify, session.trust_env = sandbox.cert, False
    session.headers["Authorization"] = "Bearer sandbox-token"
    return session


@pytest.mark.parametrize(("path", "body", "field_name"), [
    ("/crm/v3/objects/contacts/search", {"filters": [], "limit": 1}, "filters"),
    ("/crm/v3/objects/contacts/search",
     {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY",
                                     "caseSensitive": True}]}]}, "caseSensitive"),
    ("/crm/v4/associations/deals/contacts/batch/read",
     {"inputs": [{"id": "1", "limit": 1000}]}, "limit"),
    ("/crm/v3/objects/contacts/batch/read", {"inputs": [{"id": "1"}], "archived": True},
     "archived"),
])
def test_undocumented_request_fields_are_refused_with_a_validation_error(
        empty: SandboxClient, raw: requests.Session, path: str, body: dict,
        field_name: str) -> None:
    response = raw.post(empty.url + path, json=body)
    assert response.status_code == 400
    assert problems(response.json(), ERROR) == []
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert f'"{field_name}"' in response.json()["message"]


def test_more_than_1000_association_inputs_are_refused(empty: SandboxClient,
                                                        raw: requests.Session) -> None:
    response = raw.post(empty.url + "/crm/v4/associations/deals/contacts/batch/read",
                        json={"inputs": [{"id": str(i)} for i in range(1, 1002)]})
    assert response.status_code == 400
    assert problems(response.json(), ERROR) == []
    assert settings.ASSOCIATION_BATCH == 1_000


def test_404_bodies_carry_a_category(empty: SandboxClient, raw: requests.Session) -> None:
    for path in ("/crm/v3/objects/contacts/424242", "/crm/v3/properties/contacts/no_such",
                 "/crm/v3/owners/999999"):
        response = raw.get(empty.url + path)
        assert response.status_code == 404, path
        assert problems(response.json(), ERROR) == [], path
        assert response.json()["category"] == "OBJECT_NOT_FOUND"


def test_429_body_is_the_documented_one_and_seqguard_names_its_policy(
        empty: SandboxClient, raw: requests.Session, wire: Wire) -> None:
    empty.faults(rate_limit_per_10s=1)
    try:
        raw.get(empty.url + "/crm/v3/objects/contacts")
        limited = raw.get(empty.url + "/crm/v3/objects/contacts")
    finally:
        empty.faults()
    assert limited.status_code == 429 and limited.headers["Retry-After"]
    assert problems(limited.json(), RATE_LIMITED) == []
    assert (limited.json()["policyName"], limited.json()["category"]) == (
        "TEN_SECONDLY_ROLLING", "RATE_LIMITS")
    assert error_detail(limited.text) == (
        "TEN_SECONDLY_ROLLING: You have reached your ten_secondly_rolling limit.")


def test_a_207_error_other_than_none_found_fails_the_association_read() -> None:
    # StandardError as the reference shows it; `subCategory` is typed as an object there,
    # so seqguard reads only the category (a string, an object or nothing all the same)
    def error(category: str, sub: Any) -> dict:
        return {"status": "error", "category": category, "message": "m", "context": {},
                "errors": [], "links": {}, **({"subCategory": sub} if sub is not None else {})}

    fine = {"results": [], "errors": [error("OBJECT_NOT_FOUND", s)
                                      for s in (None, "crm.associations.NO", {"x": 1})]}
    assert failed_inputs(fine) == []
    bad = {"results": [], "errors": [error("OBJECT_NOT_FOUND", None), error("RATE_LIMITS", {})]}
    assert [e["category"] for e in failed_inputs(bad)] == ["RATE_LIMITS"]
    paged = {"results": [{"from": {"id": "7"}, "to": [], "paging": {"next": {"after": "a b"}}},
                         {"from": {"id": "8"}, "to": []}]}
    assert continuation_inputs(paged) == [{"id": "7", "after": "a b"}]


def test_remote_error_bodies_become_one_short_line(sandbox: SandboxClient) -> None:
    hostile = {"category": "VALIDATION_ERROR\nrm -rf", "policyName": "x y",
               "message": "First line.\nSecond\x1b[31m line. " + "z" * 500,
               "context": {"secret": ["sandbox-token"]}}
    assert error_detail(json.dumps(hostile)) == "error: First line"
    assert error_detail("<html>" + "x" * 10_000) == "a non-JSON body of 10006 bytes"
    assert error_detail('["a"]') == "an unexpected list body"
    echoed = {"category": "INVALID_AUTHENTICATION",
              "message": "Token sandbox-token is not valid"}
    client = HubSpotClient(sandbox_config(sandbox.url, sandbox.cert).hubspot,  # type: ignore[arg-type]
                           RateLimiter(limit=None))
    refused = client._api_error(401, json.dumps(echoed), "list contacts")
    assert isinstance(refused, ConfigError)
    assert "sandbox-token" not in str(refused) and "\n" not in str(refused)
    failed = client._api_error(500, json.dumps(hostile), "list contacts")
    assert isinstance(failed, SyncError) and len(str(failed)) < 200
