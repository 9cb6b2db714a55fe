"""Contract: every Salesforce call the cadence adapter makes, request and answer, held
against what Salesforce documents (salesforce_reference.py, each shape cited there).

The adapter runs its real session over HTTPS to the sandbox; a response hook records each
exchange. A call that sends an undocumented field or input, or reads a key the documented
shape lacks, fails here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pyarrow as pa
import pytest
from salesforce_reference import (
    DOCUMENTED_INPUTS,
    DOCUMENTED_RELATIONSHIPS,
    ERROR_BODY_EXAMPLE,
    ERROR_EXAMPLE,
    ID_18,
    QUERY_EXAMPLE,
    REQUIRED_INPUTS,
    SAMPLE_IDS,
    SUCCESS_EXAMPLE,
    Exchange,
    Recorder,
    mismatches,
    soql_fields,
    soql_of,
    undocumented_fields,
)
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.client import SandboxClient
from tasks.core.config import Config, Credential
from tasks.core.errors import ConfigError
from tasks.post.sequencers.base import CHANGE_SCHEMA
from tasks.post.sequencers.salesforce import SalesforceSequencer
from tasks.post.sequencers.salesforce_actions import input_outcome
from tasks.sync.limiter import RateLimiter

NOW = "2026-03-02T09:00:00+00:00"
CADENCE = "77C000000000101EAA"   # sequence 101 as Salesforce serves it
REP = "rep@example.com"


@pytest.fixture
def org(sandbox: SandboxClient) -> dict[str, str]:
    """A 3-step cadence, a rep, two Contacts and a Lead."""
    sandbox.reset(now=NOW)
    sandbox.define_sequences([{"id": "101", "name": "Enterprise outbound",
                               "steps": [{"after_minutes": 60}] * 3}])
    user = sandbox.upsert_salesforce("User", [{"Username": "rep@example.com.org",
                                               "LastName": "Rep", "Email": REP,
                                               "IsActive": True}])[0]["id"]
    contacts = sandbox.upsert_salesforce("Contact", [
        {"LastName": "Ann", "Email": "ann@acme.test"}, {"LastName": "Bo", "Email": "bo@acme.test"}])
    lead = sandbox.upsert_salesforce("Lead", [{"LastName": "Cy", "Company": "Cyco",
                                               "Email": "cy@cyco.test"}])[0]["id"]
    return {"user": user, "ann": contacts[0]["id"], "bo": contacts[1]["id"], "cy": lead}


def adapter_with(config: Config) -> tuple[SalesforceSequencer, Recorder]:
    assert config.salesforce is not None
    adapter = SalesforceSequencer(config.salesforce, RateLimiter(limit=None))
    return adapter, Recorder().attach(adapter.http.session())


def changes(kind: str, contacts: list[str], *, sequence_id: str = CADENCE,
            sender: str | None = None, start_step: int | None = None) -> pa.Table:
    return pa.table({
        "change_id": [f"{kind}-{i}" for i in range(len(contacts))],
        "kind": [kind] * len(contacts), "sequence_id": [sequence_id] * len(contacts),
        "email": [None] * len(contacts), "contact_id": contacts,
        "sender": [sender] * len(contacts), "reason": [None] * len(contacts),
        "start_step": [start_step] * len(contacts),
    }, schema=CHANGE_SCHEMA)


def assert_query_contract(exchange: Exchange) -> None:
    """A query names only documented fields of its object and is answered in the
    documented query shape, each record carrying exactly the fields selected."""
    soql = soql_of(exchange.url)
    assert undocumented_fields(soql) == [], soql
    assert exchange.status == 200, exchange.answer
    page = {k: v for k, v in exchange.answer.items() if k != "records"}
    assert mismatches(page, QUERY_EXAMPLE) == []
    sobject, _ = soql_fields(soql)
    selected = {f.strip() for f in soql.split(" FROM ")[0][len("SELECT "):].split(",")}
    own = {f for f in selected if "." not in f}
    parents: dict[str, set[str]] = {}
    for path in selected - own:
        relationship, _, name = path.partition(".")
        parents.setdefault(relationship, set()).add(name)
    for record in exchange.answer["records"]:
        assert set(record) == {"attributes"} | own | set(parents), soql
        assert_record(record, sobject)
        for relationship, names in parents.items():
            parent = record[relationship]   # the parent record, or null without one
            if parent is not None:
                assert set(parent) == {"attributes"} | names
                assert_record(parent, DOCUMENTED_RELATIONSHIPS[(sobject, relationship)])


def assert_record(record: dict, sobject: str) -> None:
    assert mismatches(record["attributes"], QUERY_EXAMPLE["records"][0]["attributes"]) == []
    assert record["attributes"]["type"] == sobject
    assert f"/sobjects/{sobject}/" in record["attributes"]["url"]
    assert all(ID_18.match(v) for k, v in record.items()
               if k.endswith("Id") and isinstance(v, str) and v)


def assert_action_contract(exchange: Exchange, action: str) -> list[dict]:
    """The body is `{"inputs": [...]}` of documented inputs (the required ones present),
    and the answer has one documented success or error element per input."""
    assert exchange.method == "POST" and exchange.url.endswith(f"/actions/standard/{action}")
    assert set(exchange.body) == {"inputs"} and 1 <= len(exchange.body["inputs"]) <= 200
    for item in exchange.body["inputs"]:
        assert set(item) <= DOCUMENTED_INPUTS[action], item
        assert REQUIRED_INPUTS[action] <= set(item), item
        assert all(isinstance(v, str) for v in item.values()), item
    assert exchange.status == 200
    assert isinstance(exchange.answer, list)
    assert len(exchange.answer) == len(exchange.body["inputs"])
    for answer in exchange.answer:
        example = SUCCESS_EXAMPLE[0] if answer["isSuccess"] else ERROR_EXAMPLE[0]
        assert mismatches(answer, example) == [], answer
        assert answer["actionName"] == action
    return exchange.body["inputs"]


def test_cadences_are_listed_from_documented_actioncadence_fields(
        org: dict[str, str], config: Config) -> None:
    adapter, recorder = adapter_with(config)
    assert adapter.sequences().to_pylist() == [
        {"sequence_id": CADENCE, "name": "Enterprise outbound"}]
    [query] = recorder.queries()
    assert_query_contract(query)
    assert CADENCE[:3] == SAMPLE_IDS["ActionCadence"][:3]


def test_assign_sends_documented_inputs_and_a_recovery_names_its_step_by_id(
        org: dict[str, str], config: Config, salesforce_client: Salesforce) -> None:
    adapter, recorder = adapter_with(config)
    answers = adapter.enroll(pa.concat_tables([
        changes("enroll", [org["ann"], org["cy"]], sender=REP),
        changes("enroll", [org["bo"]], start_step=2)]))
    assert answers.column("outcome").to_pylist() == ["sent", "sent", "sent"]
    for query in recorder.queries():
        assert_query_contract(query)   # the rep's User id, the cadence's steps
    [call] = recorder.to("/actions/standard/")
    inputs = assert_action_contract(call, "assignTargetToSalesCadence")
    assert inputs[0] == {"salesCadenceNameOrId": CADENCE, "targetId": org["ann"],
                         "userId": org["user"]}
    [second_step] = salesforce_client.query(
        f"SELECT Id FROM ActionCadenceStep WHERE ActionCadenceId = '{CADENCE}' "
        "AND StepTitle = 'Email 2'")["records"]
    assert inputs[2] == {"salesCadenceNameOrId": CADENCE, "targetId": org["bo"],
                         "startStepNameOrId": second_step["Id"]}


def test_state_and_step_are_read_from_the_documented_tracker_and_step_objects(
        sandbox: SandboxClient, org: dict[str, str], config: Config) -> None:
    adapter, recorder = adapter_with(config)
    adapter.enroll(changes("enroll", [org["ann"], org["cy"]]))
    sandbox.set_clock("2026-03-02T10:30:00+00:00")   # step 1 went out at 10:00
    adapter.pause(changes("pause", [org["cy"]]))
    recorder.exchanges.clear()

    read = adapter.enrollments(None, pa.table({"contact_id": [org["ann"], org["cy"]]}))
    rows = {r["contact_id"]: r for r in read.to_pylist()}
    assert {k: (r["state"], r["step"], r["email"], r["sequence_id"]) for k, r in rows.items()} == {
        org["ann"]: ("active", 1, "ann@acme.test", CADENCE),
        org["cy"]: ("paused", 1, "cy@cyco.test", CADENCE)}
    assert all(r["enrollment_id"][:3] == SAMPLE_IDS["ActionCadenceTracker"][:3]
               for r in rows.values())
    read_objects = set()
    for query in recorder.queries():
        assert_query_contract(query)
        read_objects.add(soql_fields(soql_of(query.url))[0])
    # the step trackers come with the trackers, through their relationships
    assert read_objects == {"ActionCadenceTracker", "ActionCadenceStep", "Contact", "Lead"}
    for query in recorder.queries():
        for record in query.answer["records"]:
            for name in ("CurrentStep", "LastCompletedStep"):
                if record.get(name):   # step tracker ids, as the guide's samples show them
                    step_tracker = record[name]["attributes"]["url"].rsplit("/", 1)[-1]
                    assert step_tracker[:3] == SAMPLE_IDS["ActionCadenceStepTracker"][:3]

    # the incremental read asks for trackers changed since a time, the same way
    recorder.exchanges.clear()
    since = adapter.enrollments(read.column("updated_at")[0].as_py() - timedelta(days=1))
    assert since.num_rows == 2
    assert "SystemModstamp >= " in soql_of(recorder.queries()[0].url)
    for query in recorder.queries():
        assert_query_contract(query)


def test_remove_names_the_tracker_of_the_cadence_and_the_documented_reason(
        org: dict[str, str], config: Config) -> None:
    adapter, recorder = adapter_with(config)
    adapter.enroll(changes("enroll", [org["ann"], org["bo"]]))
    recorder.exchanges.clear()
    answers = adapter.unenroll(pa.concat_tables([
        changes("unenroll", [org["ann"]]),
        changes("unenroll", [org["bo"]], sequence_id="*"),
        changes("unenroll", [org["cy"]])]))   # in no cadence: nothing to send
    assert answers.column("outcome").to_pylist() == ["sent", "sent", "confirmed"]
    [lookup] = recorder.queries()
    assert_query_contract(lookup)
    [call] = recorder.to("/actions/standard/")
    inputs = assert_action_contract(call, "removeTargetFromSalesCadence")
    tracker = next(r["Id"] for r in lookup.answer["records"] if r["TargetId"] == org["ann"])
    assert inputs == [
        {"actionCadenceTrackerId": tracker, "completionReasonCode": "ManuallyRemoved"},
        {"targetId": org["bo"], "completionReasonCode": "ManuallyRemoved"}]


def test_pause_and_resume_send_only_the_target(org: dict[str, str], config: Config) -> None:
    adapter, recorder = adapter_with(config)
    adapter.enroll(changes("enroll", [org["ann"]]))
    recorder.exchanges.clear()
    assert adapter.pause(changes("pause", [org["ann"]])).column("outcome").to_pylist() == [
        "sent"]
    assert adapter.resume(changes("resume", [org["ann"]])).column("outcome").to_pylist() == [
        "sent"]
    # a target whose active tracker is in another cadence is not paused by a change that
    # names this one: the action would pause whatever cadence the target is in
    other = adapter.pause(changes("pause", [org["ann"]], sequence_id="77C000000000999EAA"))
    assert other.column("outcome").to_pylist() == ["rejected"]
    pause, resume = recorder.to("/actions/standard/")
    assert assert_action_contract(pause, "pauseSalesCadenceTracker") == [
        {"targetId": org["ann"]}]
    assert assert_action_contract(resume, "resumeSalesCadenceTracker") == [
        {"targetId": org["ann"]}]
    for query in recorder.queries():
        assert_query_contract(query)


def test_an_undocumented_action_input_gets_an_error_of_its_own(
        org: dict[str, str], salesforce_client: Salesforce) -> None:
    answers = salesforce_client.restful(
        "actions/standard/removeTargetFromSalesCadence", method="POST", json={"inputs": [
            {"targetId": org["ann"], "salesCadenceNameOrId": CADENCE,
             "completionReasonCode": "ManuallyRemoved"}]})
    assert mismatches(answers, ERROR_EXAMPLE) == []
    assert answers[0]["errors"][0]["statusCode"] == "UNKNOWN_EXCEPTION"
    assert "salesCadenceNameOrId" in answers[0]["errors"][0]["message"]
    mixed = salesforce_client.restful(
        "actions/standard/assignTargetToSalesCadence", method="POST", json={"inputs": [
            {"salesCadenceNameOrId": CADENCE, "targetId": org["ann"], "sequenceStep": "2"},
            {"salesCadenceNameOrId": CADENCE, "targetId": org["bo"]}]})
    assert [a["isSuccess"] for a in mixed] == [False, True]
    assert mismatches(mixed[1:], SUCCESS_EXAMPLE) == []
    assert "sequenceStep" in mixed[0]["errors"][0]["message"]


def test_an_undocumented_soql_field_is_refused_with_invalid_field(
        org: dict[str, str], config: Config, salesforce_client: Salesforce) -> None:
    adapter, recorder = adapter_with(config)
    with pytest.raises(ConfigError, match="INVALID_FIELD"):
        list(adapter.query("SELECT Id, CurrentStepNumber FROM ActionCadenceTracker"))
    [refused] = recorder.queries()
    assert refused.status == 400
    assert mismatches(refused.answer, ERROR_BODY_EXAMPLE) == []
    assert refused.answer[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as err:
        salesforce_client.query("SELECT Id, ActionCadenceId FROM Task")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_whole_call_failures_are_outcomes_for_every_row(
        sandbox: SandboxClient, org: dict[str, str], config: Config) -> None:
    adapter, _ = adapter_with(config)
    # 5xx: the outcome is unknown; the poster reads the state before posting again
    sandbox.faults(error_rate=1.0)
    try:
        failed = adapter.enroll(changes("enroll", [org["ann"], org["bo"]]))
    finally:
        sandbox.faults()
    assert failed.column("outcome").to_pylist() == ["retry", "retry"]
    # 400: the request itself is refused (201 inputs); resending it would be refused again
    too_many = adapter.enroll(changes("enroll", [org["ann"]] * 201))
    assert set(too_many.column("outcome").to_pylist()) == {"rejected"}
    assert "HTTP 400 EXCEEDED_ID_LIMIT" in too_many.column("error")[0].as_py()
    # 401: nothing ran; the changes wait for a working credential
    assert config.salesforce is not None
    wrong = replace(config, salesforce=replace(config.salesforce,
                                               session=Credential(literal="expired")))
    refused = adapter_with(wrong)[0].enroll(changes("enroll", [org["ann"]]))
    assert refused.column("outcome").to_pylist() == ["retry"]
    assert "401" in refused.column("error")[0].as_py()
    assert sandbox.enrollments() == []


def test_an_answer_element_that_is_not_the_documented_shape_is_not_taken_as_sent() -> None:
    assert input_outcome("garbage")["outcome"] == "retry"
    assert input_outcome({"isSuccess": False, "errors": "x"}) == {
        "outcome": "rejected", "response": {"isSuccess": False, "errors": "x"},
        "error": "ERROR: "}


def test_the_org_limit_answers_403_request_limit_exceeded(
        sandbox: SandboxClient, org: dict[str, str], config: Config) -> None:
    adapter, recorder = adapter_with(config)
    sandbox.faults(rate_limit_per_10s=1)
    try:
        assert adapter.sequences().num_rows == 1
        # the next call within the window is refused the way the org limit is (the adapter
        # would wait and resend; here the answer itself is looked at)
        over = adapter.http.session().get(adapter.base + "query/",
                                      params={"q": "SELECT Id FROM ActionCadence"})
    finally:
        sandbox.faults()
    assert over.status_code == 403
    [limited] = [e for e in recorder.exchanges if e.status == 403]
    assert mismatches(limited.answer, ERROR_BODY_EXAMPLE) == []
    assert limited.answer[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
