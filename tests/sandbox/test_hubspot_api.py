"""The sandbox's HubSpot API, driven by hubspot-api-client over real HTTPS.

Each test resets the shared sandbox to the data it needs, writes through the control API
or the HubSpot API itself, and reads back through the client's own models, so a shape the
client cannot parse fails here first.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta

import hubspot
import pytest
from hubspot.crm.contacts import (
    ApiException,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.properties import PropertyCreate

from sandbox.client import SandboxClient
from sandbox.hubspot_api import upsert_records
from sandbox.hubspot_common import cursor
from sandbox.hubspot_search import SEARCH_CURSOR
from sandbox.state import SandboxState

T0 = datetime(2026, 3, 2, 9, 0, 0)
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z")


def epoch_ms(value: datetime) -> str:
    return str(int((value - datetime(1970, 1, 1)).total_seconds() * 1000))


def contacts(n: int, start: int = 0, **extra: str) -> list[dict]:
    return [{"properties": {"email": f"person{i}@example{i % 7}.com", "firstname": f"P{i}",
                            "lastname": "Test", **extra}} for i in range(start, start + n)]


def error_body(exc: Exception) -> dict:
    return json.loads(exc.body)  # type: ignore[attr-defined]


def raw(client: hubspot.HubSpot, sandbox: SandboxClient, method: str, path: str,
        monkeypatch: pytest.MonkeyPatch, **options: object):
    """`client.api_request`, which ignores `ssl_ca_cert`: it trusts REQUESTS_CA_BUNDLE."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox.cert)
    return client.api_request({"method": method, "path": path, "base_url": sandbox.url,
                               **options})


@pytest.fixture
def empty(sandbox: SandboxClient) -> SandboxClient:
    sandbox.reset(now=T0.isoformat())
    return sandbox


# --- lists and reads ----------------------------------------------------------------------


def test_list_pages_follow_the_after_cursor_with_default_properties(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    empty.upsert_hubspot("contacts", contacts(150))
    api = hubspot_client.crm.contacts.basic_api
    first = api.get_page(limit=100)
    second = api.get_page(limit=100, after=first.paging.next.after)
    ids = [int(r.id) for r in first.results + second.results]
    assert ids == sorted(ids) and len(set(ids)) == 150
    assert second.paging is None
    props = first.results[0].properties
    assert {"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate",
            "lastname", "hs_lastmodifieddate"} == set(props)
    assert props["hs_object_id"] == first.results[0].id
    assert props["createdate"] == "2026-03-02T09:00:00Z"
    assert first.results[0].created_at.isoformat() == "2026-03-02T09:00:00+00:00"


def test_get_all_reads_5000_upserted_contacts(empty: SandboxClient,
                                              hubspot_client: hubspot.HubSpot) -> None:
    started = time.perf_counter()
    written = empty.upsert_hubspot("contacts", contacts(5000))
    upsert_seconds = time.perf_counter() - started
    started = time.perf_counter()
    everyone = hubspot_client.crm.contacts.get_all(properties=["email", "lifecyclestage"])
    read_seconds = time.perf_counter() - started
    print(f"upsert 5000: {upsert_seconds:.2f} s; get_all: {read_seconds:.2f} s "
          f"({len(everyone) / 100 / read_seconds:.0f} pages/s)")
    assert len(everyone) == 5000
    assert {c.properties["email"] for c in everyone} == {
        w["properties"]["email"] for w in written}
    assert all(c.properties["lifecyclestage"] is None for c in everyone)


def test_requested_properties_unknown_ones_left_out_and_multi_select_joined(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    [record] = empty.upsert_hubspot("contacts", contacts(1, product_interest="analytics;crm_sync"))
    got = hubspot_client.crm.contacts.basic_api.get_by_id(
        record["id"], properties=["product_interest", "no_such_property"])
    assert got.properties["product_interest"] == "analytics;crm_sync"
    assert "no_such_property" not in got.properties


def test_unknown_and_non_numeric_ids_get_hubspots_404_bodies(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    api = hubspot_client.crm.contacts.basic_api
    with pytest.raises(ApiException) as numeric:
        api.get_by_id("424242")
    assert numeric.value.status == 404
    assert (error_body(numeric.value)["message"], error_body(numeric.value)["category"]) == (
        "resource not found", "OBJECT_NOT_FOUND")
    with pytest.raises(ApiException) as word:
        api.get_by_id("abc")
    body = error_body(word.value)
    assert body["category"] == "OBJECT_NOT_FOUND" and body["context"] == {"id": ["abc"]}


def test_archived_records_are_listed_only_with_archived_true(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    written = empty.upsert_hubspot("contacts", contacts(3))
    empty.upsert_hubspot("contacts", [{"id": written[1]["id"], "archived": True}])
    api = hubspot_client.crm.contacts.basic_api
    live = api.get_page(limit=10)
    gone = api.get_page(limit=10, archived=True)
    assert [r.id for r in live.results] == [written[0]["id"], written[2]["id"]]
    assert [r.id for r in gone.results] == [written[1]["id"]]
    assert gone.results[0].archived and gone.results[0].archived_at is not None


# --- writes -------------------------------------------------------------------------------


def test_patch_changes_only_named_properties_and_logs_an_event(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    [record] = empty.upsert_hubspot("contacts", contacts(1))
    empty.set_clock(T0 + timedelta(minutes=5, milliseconds=250))
    updated = hubspot_client.crm.contacts.basic_api.update(
        record["id"], SimplePublicObjectInput(properties={"firstname": "Ada"}))
    assert updated.properties["firstname"] == "Ada"
    assert updated.properties["lastname"] == "Test"
    assert updated.properties["lastmodifieddate"] == "2026-03-02T09:05:00.250Z"
    patches = [e for e in empty.events() if e["action"] == "patch"]
    assert [(e["object"], e["record_id"]) for e in patches] == [("contacts", record["id"])]


def test_unknown_property_on_write_is_hubspots_validation_error(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    with pytest.raises(ApiException) as refused:
        hubspot_client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
            properties={"email": "a@b.com", "favourite_colour": "teal"}))
    body = error_body(refused.value)
    assert refused.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: ")
    [detail] = json.loads(body["message"].removeprefix("Property values were not valid: "))
    assert detail["error"] == "PROPERTY_DOESNT_EXIST" and detail["name"] == "favourite_colour"


def test_create_returns_201_and_a_taken_email_conflicts(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    api = hubspot_client.crm.contacts.basic_api
    made = api.create(SimplePublicObjectInputForCreate(properties={"email": "Solo@x.com"}))
    assert made.properties["email"] == "Solo@x.com" and int(made.id) > 0
    with pytest.raises(ApiException) as conflict:
        api.create(SimplePublicObjectInputForCreate(properties={"email": "solo@X.com"}))
    assert conflict.value.status == 409
    expected = f"Contact already exists. Existing ID: {made.id}"
    assert error_body(conflict.value)["message"] == expected


def test_deal_closed_flags_follow_the_stage(empty: SandboxClient,
                                            hubspot_client: hubspot.HubSpot) -> None:
    api = hubspot_client.crm.deals.basic_api
    deal = api.create(hubspot.crm.deals.SimplePublicObjectInputForCreate(
        properties={"dealname": "Big one", "pipeline": "default", "dealstage": "closedwon"}))
    props = ["hs_is_closed", "hs_is_closed_won", "dealstage"]
    assert api.get_by_id(deal.id, properties=props).properties["hs_is_closed_won"] == "true"
    api.update(deal.id, hubspot.crm.deals.SimplePublicObjectInput(
        properties={"dealstage": "qualifiedtobuy"}))
    reread = api.get_by_id(deal.id, properties=props).properties
    assert (reread["hs_is_closed"], reread["hs_is_closed_won"]) == ("false", "false")
    with pytest.raises(hubspot.crm.deals.ApiException) as calculated:
        api.update(deal.id, hubspot.crm.deals.SimplePublicObjectInput(
            properties={"hs_is_closed": "true"}))
    assert "READ_ONLY_VALUE" in error_body(calculated.value)["message"]


def test_batch_read_returns_live_records_and_207_errors_for_missing_ids(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    written = empty.upsert_hubspot("contacts", contacts(3))
    ids = [w["id"] for w in written]
    response = hubspot_client.crm.contacts.batch_api.read(
        hubspot.crm.contacts.BatchReadInputSimplePublicObjectId(
            inputs=[{"id": ids[0]}, {"id": ids[2]}, {"id": "99999"}], properties=["email"]))
    assert sorted(r.id for r in response.results) == sorted([ids[0], ids[2]])
    assert response.num_errors == 1
    assert response.errors[0].context == {"ids": ["99999"]}


def test_batch_update_applies_all_inputs_in_one_call(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    written = empty.upsert_hubspot("contacts", contacts(100))
    inputs = [{"id": w["id"], "properties": {"lifecyclestage": "customer"}} for w in written]
    result = hubspot_client.crm.contacts.batch_api.update(
        hubspot.crm.contacts.BatchInputSimplePublicObjectBatchInput(inputs=inputs))
    assert len(result.results) == 100
    assert {r.properties["lifecyclestage"] for r in result.results} == {"customer"}


def test_control_upsert_is_set_based_and_creates_fixture_properties() -> None:
    state = SandboxState()
    from sandbox.generate import seed_metadata

    seed_metadata(state)
    records = [{"properties": {"email": f"u{i}@x.com", "fixture_tag": "t"}} for i in range(20_000)]
    started = time.perf_counter()
    written = upsert_records(state, "contacts", records)
    seconds = time.perf_counter() - started
    assert len(written) == 20_000 and written[-1]["properties"]["fixture_tag"] == "t"
    assert seconds < 10, f"20,000 upserts took {seconds:.1f} s"
    again = upsert_records(state, "contacts", [{"id": written[0]["id"],
                                                "properties": {"firstname": "Z"}}])
    assert again[0]["properties"]["email"] == "u0@x.com"  # untouched by a partial upsert
    assert state.rows("select value from sb_counters where name = 'hs_contacts'")[0][
        "value"] == 20_000


# --- search -------------------------------------------------------------------------------


def search(client: hubspot.HubSpot, filters: list[dict], **kwargs: object):
    request = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(**f) for f in filters])], **kwargs)
    return client.crm.contacts.search_api.do_search(public_object_search_request=request)


def test_search_gt_lastmodifieddate_pages_changed_records_in_order(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    written = empty.upsert_hubspot("contacts", contacts(30))
    changed = [w["id"] for w in written[::3]]
    for minute, record_id in enumerate(changed, start=1):
        empty.set_clock(T0 + timedelta(minutes=minute, milliseconds=7))
        empty.upsert_hubspot("contacts", [{"id": record_id, "properties": {"firstname": "X"}}])
    seen, after = [], None
    while True:
        page = search(hubspot_client,
                      [{"property_name": "lastmodifieddate", "operator": "GT",
                        "value": epoch_ms(T0)}],
                      sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                      properties=["firstname"], limit=3, after=after)
        assert page.total == len(changed)
        seen += page.results
        if page.paging is None:
            break
        after = page.paging.next.after
    assert [r.id for r in seen] == changed
    last = seen[-1].properties["lastmodifieddate"]
    assert last == "2026-03-02T09:10:00.007Z"
    beyond = search(hubspot_client, [{"property_name": "hs_lastmodifieddate", "operator": "GT",
                                      "value": last}])
    assert beyond.total == 0  # a value read back compares equal to itself


def test_search_in_numbers_sorts_and_or_groups(empty: SandboxClient,
                                               hubspot_client: hubspot.HubSpot) -> None:
    empty.upsert_hubspot("deals", [
        {"properties": {"dealname": name, "amount": amount, "dealstage": stage}}
        for name, amount, stage in [("a", "5", "closedwon"), ("b", "40", "contractsent"),
                                    ("c", "300", "closedlost"), ("d", None, "qualifiedtobuy")]])
    deals = hubspot_client.crm.deals.search_api
    request = hubspot.crm.deals.PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "amount", "operator": "GT", "value": "39"}]},
                       {"filters": [{"propertyName": "dealstage", "operator": "IN",
                                     "values": ["closedwon", "qualifiedtobuy"]}]}],
        sorts=[{"propertyName": "amount", "direction": "DESCENDING"}],
        properties=["dealname", "amount"])
    found = deals.do_search(public_object_search_request=request)
    # numeric, not text, comparison: "5" is not > "39"; null amounts sort last
    assert [r.properties["dealname"] for r in found.results] == ["c", "b", "a", "d"]


def test_search_multi_select_and_has_property(empty: SandboxClient,
                                              hubspot_client: hubspot.HubSpot) -> None:
    empty.upsert_hubspot("contacts", contacts(1, product_interest="analytics;crm_sync")
                         + contacts(1, start=1, product_interest="crm_sync_plus")
                         + contacts(1, start=2))
    hits = search(hubspot_client, [{"property_name": "product_interest", "operator": "EQ",
                                    "value": "crm_sync"}])
    assert [r.properties["email"] for r in hits.results] == ["person0@example0.com"]
    unset = search(hubspot_client, [{"property_name": "product_interest",
                                     "operator": "NOT_HAS_PROPERTY"}])
    assert [r.properties["email"] for r in unset.results] == ["person2@example2.com"]


def test_search_beyond_10000_results_is_refused_like_hubspot(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    # the tokens the sandbox would hand out for the pages at offsets 9,950 and 9,900
    with pytest.raises(ApiException) as capped:
        search(hubspot_client, [{"property_name": "email", "operator": "HAS_PROPERTY"}],
               limit=100, after=cursor(SEARCH_CURSOR, 9950))
    assert capped.value.status == 400
    assert error_body(capped.value)["category"] == "VALIDATION_ERROR"
    assert search(hubspot_client, [{"property_name": "email", "operator": "HAS_PROPERTY"}],
                  limit=100, after=cursor(SEARCH_CURSOR, 9900)).total == 0


def test_cursors_are_opaque_tokens_and_a_number_is_not_one(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    empty.upsert_hubspot("contacts", contacts(5))
    page = search(hubspot_client, [{"property_name": "email", "operator": "HAS_PROPERTY"}],
                  limit=2)
    listed = hubspot_client.crm.contacts.basic_api.get_page(limit=2)
    for token in (page.paging.next.after, listed.paging.next.after):
        assert not token.isdigit()
    with pytest.raises(ApiException) as refused:
        search(hubspot_client, [{"property_name": "email", "operator": "HAS_PROPERTY"}],
               limit=2, after="2")
    assert (refused.value.status, error_body(refused.value)["category"]) == (
        400, "VALIDATION_ERROR")
    with pytest.raises(ApiException):  # a list token is no search token
        search(hubspot_client, [{"property_name": "email", "operator": "HAS_PROPERTY"}],
               limit=2, after=listed.paging.next.after)


def test_search_on_an_unknown_property_is_a_400(empty: SandboxClient,
                                                hubspot_client: hubspot.HubSpot) -> None:
    with pytest.raises(ApiException) as refused:
        search(hubspot_client, [{"property_name": "shoe_size", "operator": "EQ", "value": "9"}])
    body = error_body(refused.value)
    assert refused.value.status == 400 and "shoe_size" in body["message"]


def test_search_values_are_bound_not_spliced(empty: SandboxClient,
                                             hubspot_client: hubspot.HubSpot) -> None:
    empty.upsert_hubspot("contacts", contacts(2))
    hostile = "x' or 1=1 --"
    assert search(hubspot_client, [{"property_name": "email", "operator": "EQ",
                                    "value": hostile}]).total == 0
    assert search(hubspot_client, [{"property_name": "email", "operator": "IN",
                                    "values": [hostile]}]).total == 0


# --- associations, metadata, owners -------------------------------------------------------


def test_associations_are_served_from_both_sides(empty: SandboxClient,
                                                 hubspot_client: hubspot.HubSpot) -> None:
    people = empty.upsert_hubspot("contacts", contacts(3))
    [acme] = empty.upsert_hubspot("companies", [{"properties": {"name": "Acme",
                                                                "domain": "acme.com"}}])
    empty.associate([{"from_type": "contacts", "from_id": p["id"], "to_type": "companies",
                      "to_id": acme["id"]} for p in people[:2]])
    v4 = hubspot_client.crm.associations.v4
    page = v4.basic_api.get_page("contacts", people[0]["id"], "companies")
    assert [(r.to_object_id, r.association_types[0].type_id) for r in page.results] == [
        (acme["id"], 1)]
    batch = v4.batch_api.get_page("companies", "contacts", {"inputs": [{"id": acme["id"]}]})
    assert sorted(t.to_object_id for t in batch.results[0].to) == sorted(
        p["id"] for p in people[:2])
    v3 = hubspot_client.crm.associations.batch_api.read(
        "contacts", "companies", {"inputs": [{"id": p["id"]} for p in people]})
    assert {r._from.id: [t.type for t in r.to] for r in v3.results} == {
        people[0]["id"]: ["contact_to_company"], people[1]["id"]: ["contact_to_company"]}
    assert v3.num_errors == 1  # the third contact has no company
    embedded = hubspot_client.crm.contacts.basic_api.get_page(limit=10, associations=["companies"])
    assert embedded.results[0].associations["companies"].results[0].id == acme["id"]
    assert embedded.results[2].associations is None


def test_each_records_associations_are_paged_at_500_in_the_list_and_the_batch_read(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    people = empty.upsert_hubspot("contacts", contacts(1_100))
    [acme] = empty.upsert_hubspot("companies", [{"properties": {"name": "Acme"}}])
    empty.associate([{"from_type": "companies", "from_id": acme["id"], "to_type": "contacts",
                      "to_id": p["id"]} for p in people])
    v4 = hubspot_client.crm.associations.v4
    listed, after = [], None
    while True:
        page = v4.basic_api.get_page("companies", acme["id"], "contacts", after=after)
        listed.append(len(page.results))
        if page.paging is None:
            break
        after = page.paging.next.after
    assert listed == [500, 500, 100]
    reads, inputs = [], [{"id": acme["id"]}, {"id": "999999"}]
    while inputs:
        reads.append(v4.batch_api.get_page("companies", "contacts", {"inputs": inputs}))
        inputs = [{"id": r._from.id, "after": r.paging.next.after} for r in reads[-1].results
                  if r.paging]
    assert [len(r.to) for read in reads for r in read.results] == [500, 500, 100]
    assert reads[0].num_errors == 1  # no such company: a 207 error, not a result
    with pytest.raises(hubspot.crm.associations.v4.ApiException) as refused:
        v4.batch_api.get_page("companies", "contacts",
                              {"inputs": [{"id": str(i)} for i in range(1, 1_002)]})
    assert refused.value.status == 400


def test_properties_list_enumeration_options_with_labels(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    listed = {p.name: p for p in hubspot_client.crm.properties.core_api.get_all("contacts").results}
    interest = listed["product_interest"]
    assert (interest.type, interest.field_type) == ("enumeration", "checkbox")
    assert {(o.value, o.label) for o in interest.options} >= {("crm_sync", "CRM Sync")}
    stages = {o.value: o.label for o in listed["lifecyclestage"].options}
    assert stages["marketingqualifiedlead"] == "Marketing Qualified Lead"
    assert listed["lastmodifieddate"].modification_metadata.read_only_value


def test_property_create_then_write_and_409_on_repeat(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    core = hubspot_client.crm.properties.core_api
    spec = PropertyCreate(name="seqguard_unenroll_sequence", label="Unenroll from sequence",
                          type="string", field_type="text", group_name="contactinformation")
    created = core.create("contacts", spec)
    assert created.name == "seqguard_unenroll_sequence" and not created.calculated
    with pytest.raises(hubspot.crm.properties.ApiException) as exists:
        core.create("contacts", spec)
    assert exists.value.status == 409
    assert error_body(exists.value)["category"] == "OBJECT_ALREADY_EXISTS"
    [record] = empty.upsert_hubspot("contacts", contacts(1))
    patched = hubspot_client.crm.contacts.basic_api.update(
        record["id"], SimplePublicObjectInput(properties={"seqguard_unenroll_sequence": "x"}))
    assert patched.properties["seqguard_unenroll_sequence"] == "x"


def test_deal_pipeline_stages_come_from_dealstage_options(
        empty: SandboxClient, hubspot_client: hubspot.HubSpot) -> None:
    [pipeline] = hubspot_client.crm.pipelines.pipelines_api.get_all("deals").results
    stages = {s.id: s for s in pipeline.stages}
    assert pipeline.id == "default" and stages["closedwon"].metadata["isClosed"] == "true"
    assert stages["decisionmakerboughtin"].label == "Decision Maker Bought-In"


def test_owners_page_through_the_client(empty: SandboxClient,
                                        hubspot_client: hubspot.HubSpot) -> None:
    owners = hubspot_client.crm.owners.get_all()
    assert len(owners) == 8 and all("@" in o.email for o in owners)
    one = hubspot_client.crm.owners.owners_api.get_page(email=owners[3].email)
    assert [o.id for o in one.results] == [owners[3].id]


# --- sequences and the unenroll workflow --------------------------------------------------


@pytest.fixture
def enrolled(empty: SandboxClient) -> tuple[SandboxClient, list[dict]]:
    empty.define_sequences([
        {"id": "501", "name": "Enterprise outbound", "steps": [{"after_minutes": 0},
                                                               {"after_minutes": 60}]},
        {"id": "502", "name": "Webinar follow-up", "steps": [{"after_minutes": 30}]}])
    people = empty.upsert_hubspot(
        "contacts", contacts(2) + contacts(1, start=2, hs_email_optout="true"))
    return empty, people


def enroll(client: hubspot.HubSpot, sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch,
           contact_id: str, sequence_id: str):
    return raw(client, sandbox, "POST", "/automation/v4/sequences/enrollments", monkeypatch,
               qs={"userId": "5100001"},
               body={"sequenceId": sequence_id, "contactId": contact_id,
                     "senderEmail": "avery.nguyen@seqguard-sandbox.test"})


def test_sequences_enroll_and_read_status_through_api_request(
        enrolled: tuple[SandboxClient, list[dict]], hubspot_client: hubspot.HubSpot,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox, people = enrolled
    listed = raw(hubspot_client, sandbox, "GET", "/automation/v4/sequences", monkeypatch,
                 qs={"userId": "5100001"}).json()
    assert listed["total"] == 2 and listed["results"][0]["name"] == "Enterprise outbound"
    one = raw(hubspot_client, sandbox, "GET", "/automation/v4/sequences/501", monkeypatch,
              qs={"userId": "5100001"}).json()
    assert [s["delayMillis"] for s in one["steps"]] == [0, 3_600_000]
    made = enroll(hubspot_client, sandbox, monkeypatch, people[0]["id"], "501")
    assert made.status_code == 200, made.text
    assert set(made.json()) == {"id", "toEmail", "enrolledAt", "updatedAt"}
    assert made.json()["toEmail"] == people[0]["properties"]["email"]
    assert ISO.fullmatch(made.json()["enrolledAt"])
    status = raw(hubspot_client, sandbox, "GET",
                 f"/automation/v4/sequences/enrollments/contact/{people[0]['id']}",
                 monkeypatch).json()
    # exactly the documented fields: no state, no step, no history
    assert set(status) == {"id", "toEmail", "sequenceId", "sequenceName", "enrolledAt",
                           "enrolledBy", "enrolledByEmail", "updatedAt"}
    assert (status["sequenceId"], status["sequenceName"], status["enrolledBy"]) == (
        "501", "Enterprise outbound", "5100001")


@pytest.mark.parametrize(("who", "sequence", "code"), [
    (0, "501", "ALREADY_ENROLLED"), (2, "502", "CONTACT_UNSUBSCRIBED"),
    (1, "999", "SEQUENCE_NOT_FOUND"), (None, "502", "CONTACT_NOT_FOUND")])
def test_enrollment_refusals_answer_hubspots_400_shape(
        enrolled: tuple[SandboxClient, list[dict]], hubspot_client: hubspot.HubSpot,
        monkeypatch: pytest.MonkeyPatch, who: int | None, sequence: str, code: str) -> None:
    sandbox, people = enrolled
    enroll(hubspot_client, sandbox, monkeypatch, people[0]["id"], "502")
    contact_id = people[who]["id"] if who is not None else "987654"
    refused = enroll(hubspot_client, sandbox, monkeypatch, contact_id, sequence)
    body = refused.json()
    assert refused.status_code == 400
    assert set(body) == {"status", "message", "correlationId", "category", "subCategory"}
    assert (body["status"], body["category"], body["subCategory"]) == (
        "error", "VALIDATION_ERROR", code)


def test_the_unenroll_workflow_acts_lag_minutes_after_the_write(
        enrolled: tuple[SandboxClient, list[dict]], hubspot_client: hubspot.HubSpot,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox, people = enrolled
    core = hubspot_client.crm.properties.core_api
    for name in ("seqguard_unenroll_sequence", "seqguard_unenroll_reason",
                 "seqguard_unenroll_at"):
        core.create("contacts", PropertyCreate(name=name, label=name, type="string",
                                               field_type="text", group_name="seqguard"))
    for person, sequence in ((people[0], "501"), (people[1], "502")):
        assert enroll(hubspot_client, sandbox, monkeypatch, person["id"], sequence).ok
    hubspot_client.crm.contacts.basic_api.update(people[0]["id"], SimplePublicObjectInput(
        properties={"seqguard_unenroll_sequence": "501",
                    "seqguard_unenroll_reason": "open_opportunity",
                    "seqguard_unenroll_at": T0.isoformat() + "Z"}))
    hubspot_client.crm.contacts.batch_api.update(
        hubspot.crm.contacts.BatchInputSimplePublicObjectBatchInput(inputs=[
            {"id": people[1]["id"], "properties": {"seqguard_unenroll_sequence": "*",
                                                   "seqguard_unenroll_at": "x"}}]))
    # a workflow runs later, not inside the write: both are still enrolled
    assert {e["state"] for e in sandbox.enrollments()} == {"active"}
    sandbox.set_clock(T0 + timedelta(minutes=1))
    assert {e["state"] for e in sandbox.enrollments()} == {"active"}
    sandbox.set_clock(T0 + timedelta(minutes=2))  # the default lag
    states = {e["contact_id"]: (e["state"], e["reason"]) for e in sandbox.enrollments()}
    assert states == {people[0]["id"]: ("unenrolled", "open_opportunity"),
                      people[1]["id"]: ("unenrolled", None)}
    # a contact in no sequence: HubSpot's 404 error body, nothing about the past
    gone = raw(hubspot_client, sandbox, "GET",
               f"/automation/v4/sequences/enrollments/contact/{people[0]['id']}", monkeypatch)
    assert gone.status_code == 404
    assert {"message", "correlationId", "category"} <= set(gone.json())
    # the contact's calculated properties say what happened, and moved its modified time
    record = hubspot_client.crm.contacts.basic_api.get_by_id(people[0]["id"], properties=[
        "hs_sequences_is_enrolled", "hs_latest_sequence_enrolled",
        "hs_latest_sequence_unenrolled_date", "hs_sequences_actively_enrolled_count"])
    assert record.properties["hs_sequences_is_enrolled"] == "false"
    assert record.properties["hs_latest_sequence_enrolled"] == "501"
    assert record.properties["hs_sequences_actively_enrolled_count"] == "0"
    assert record.properties["hs_latest_sequence_unenrolled_date"] == "2026-03-02T09:02:00Z"
    assert record.properties["lastmodifieddate"] == "2026-03-02T09:02:00Z"


def test_the_workflow_off_never_unenrolls(
        enrolled: tuple[SandboxClient, list[dict]], hubspot_client: hubspot.HubSpot,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox, people = enrolled
    assert sandbox.workflow(None) == {"lag_minutes": None}
    assert enroll(hubspot_client, sandbox, monkeypatch, people[0]["id"], "501").ok
    sandbox.upsert_hubspot("contacts", [{"id": people[0]["id"], "properties": {
        "seqguard_unenroll_sequence": "501", "seqguard_unenroll_at": "now"}}])
    sandbox.set_clock(T0 + timedelta(days=2))
    assert [e["state"] for e in sandbox.enrollments()] == ["finished"]  # it ran its course
    with pytest.raises(RuntimeError, match="lag_minutes"):
        sandbox.workflow(-1)
