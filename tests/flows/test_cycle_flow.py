"""The cycle as Prefect runs it: deployment, parameters, artifacts, approval, secrets."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter
from prefect.exceptions import ParameterTypeError
from prefect.states import Failed

from deployments.serve import CYCLE_CRON, cycle_deployment
from flows.cycle import cycle
from sandbox.client import SandboxClient
from tasks import steps
from tasks.core.errors import ConfigError

NOW = datetime(2026, 11, 2, 9, 0)
SEQUENCES = [
    {
        "id": "9001",
        "name": "Enterprise outbound",
        "steps": [{"after_minutes": 0}, {"after_minutes": 1440}],
    }
]


def test_the_cycle_deployment_runs_every_15_minutes_and_leaves_overlaps_to_the_lock() -> None:
    deployment = cycle_deployment("data/x.duckdb", ".", None, None)
    assert [s.schedule.cron for s in deployment.schedules] == [CYCLE_CRON] == ["*/15 * * * *"]
    # an overlapping run reaches the cycle lock, which skips it with the reason and fails
    # loudly after two cycles; a deployment limit would cancel it silently first
    assert deployment.concurrency_limit is None


def test_bad_parameters_are_refused_with_a_readable_message(prefect_harness) -> None:
    with pytest.raises(ParameterTypeError, match="now"):
        cycle(now="next tuesday-ish")  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="crms"):
        cycle(crms=["pipedrive"])  # type: ignore[list-item]


def enrolled_population(sandbox: SandboxClient, people: int) -> list[str]:
    """A sandbox whose first `people` HubSpot contacts are in a sequence, all unsubscribed
    (so the built-in rule removes every one of them: enough to trip the breaker)."""
    sandbox.reset(seed=3, contacts=300, now=NOW)
    sandbox.define_sequences(SEQUENCES)
    contacts = sandbox.table("hs_contacts")[:people]
    ids = [str(c["id"]) for c in contacts]
    session = sandbox.http
    for contact_id in ids:
        response = session.post(
            f"{sandbox.url}/automation/v4/sequences/enrollments?userId=1",
            json={"sequenceId": "9001", "contactId": contact_id, "senderEmail": "rep@x.test"},
            headers={"Authorization": "Bearer sandbox-token"},
        )
        assert response.status_code in (200, 400), response.text
    sandbox.set_clock(NOW)  # the sequencer sends each first step
    sandbox.upsert_hubspot(
        "contacts", [{"id": i, "properties": {"hs_email_optout": "true"}} for i in ids]
    )
    return ids


def artifacts_of(flow_run_id: str) -> dict[str, object]:
    async def read() -> dict[str, object]:
        async with get_client() as client:
            found = await client.read_artifacts(
                flow_run_filter=FlowRunFilter(id={"any_": [flow_run_id]}),
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="")),
            )
        return {a.key: a.data for a in found if a.key}

    import asyncio

    return asyncio.run(read())


def test_a_run_reports_its_figures_as_artifacts(prefect_harness, sandbox, tmp_path: Path) -> None:
    enrolled_population(sandbox, 5)
    db = str(tmp_path / "db.duckdb")
    summary = cycle(
        now=NOW, db=db, project=str(tmp_path), sandbox_url=sandbox.url, sandbox_cert=sandbox.cert
    )
    assert summary["decide"]["unenroll"] == 5
    found = artifacts_of(summary["run_id"])
    report = str(found["cycle-report"])
    assert "## Sync" in report and "contacts" in report and "## Rules" in report
    assert "unsubscribed" in report
    # readable: tables, not dict dumps; durations a person reads; sequences by name
    assert "```" not in report and "{'" not in report
    assert not re.search(r"\d+\.\d{3,}", report.split("## Rules")[0])
    assert "## Decisions" in report and "| unenroll | 5 | enrollments to end |" in report
    assert "## Posting" in report and "## Enrollments read" in report
    changes = json.loads(str(found["exclusion-changes"]))
    assert {c["sequence"] for c in changes} == {"Enterprise outbound"}
    assert found["sync-progress-hubspot"] == found["sync-progress-salesforce"] == 100.0
    assert "exclusion-changes" in found
    # one task per CRM sync: a failed Salesforce sync retries alone
    assert task_run_names(summary["run_id"]).count("sync-hubspot") == 1
    assert task_run_names(summary["run_id"]).count("sync-salesforce") == 1


def task_run_names(flow_run_id: str) -> list[str]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [flow_run_id]}))
    return [r.name for r in runs]


def test_steps_retry_a_passing_failure_but_not_a_configuration_error() -> None:
    assert steps.sync_crm.retries == steps.post_changes.retries == 2
    assert steps.sync_crm.retry_condition_fn is steps.recoverable
    passing = Failed(data=ConnectionError("connection reset by peer"))
    configured = Failed(data=ConfigError("SEQGUARD_HUBSPOT_TOKEN is not set"))
    assert steps.recoverable(steps.sync_crm, None, passing)
    assert not steps.recoverable(steps.sync_crm, None, configured)


def test_a_tripped_run_pauses_and_posts_after_approval(
    prefect_harness, sandbox, tmp_path: Path
) -> None:
    from prefect.flow_runs import resume_flow_run

    ids = enrolled_population(sandbox, 12)
    db = str(tmp_path / "db.duckdb")
    result: dict = {}

    def run() -> None:
        result["summary"] = cycle(
            now=NOW,
            db=db,
            project=str(tmp_path),
            sandbox_url=sandbox.url,
            sandbox_cert=sandbox.cert,
            wait_for_approval=True,
        )

    worker = threading.Thread(target=run)
    worker.start()
    flow_run_id = wait_for_paused_run()
    assert all(e["state"] == "active" for e in sandbox.enrollments())  # nothing posted yet
    resume_flow_run(flow_run_id, run_input={"decision": "approve", "approver": "ana"})
    worker.join(120)
    summary = result["summary"]
    assert summary["approval"]["status"] == "approved"
    assert summary["post"]["sent"] == len(ids)
    sandbox.set_clock(NOW + timedelta(minutes=5))  # HubSpot's unenroll workflow acts later
    assert {e["state"] for e in sandbox.enrollments()} == {"unenrolled"}


def wait_for_paused_run(timeout: float = 120) -> str:
    import asyncio

    from prefect.client.schemas.filters import FlowRunFilterState, FlowRunFilterStateType

    async def paused() -> list:
        async with get_client() as client:
            return await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=["PAUSED"]))
                )
            )

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = asyncio.run(paused())
        if runs:
            return str(runs[0].id)
        time.sleep(0.5)
    raise AssertionError("the run did not pause for approval")


def test_no_credential_appears_in_logs_artifacts_or_the_database(
    prefect_harness, sandbox, tmp_path: Path, monkeypatch, caplog
) -> None:
    enrolled_population(sandbox, 3)
    (tmp_path / "seqguard.yml").write_text(
        "crms:\n"
        f"  hubspot: {{url: '{sandbox.url}', ca_cert: '{sandbox.cert}', token_env: HS_TOKEN}}\n"
        f"  salesforce: {{url: '{sandbox.url}', ca_cert: '{sandbox.cert}', session_env: SF}}\n"
    )
    monkeypatch.setenv("HS_TOKEN", "sandbox-token")
    monkeypatch.setenv("SF", "sandbox-session")
    db = tmp_path / "db.duckdb"
    summary = cycle(now=NOW, db=str(db), project=str(tmp_path))
    assert summary["decide"]["unenroll"] == 3
    texts = [
        db.read_bytes().decode("latin-1"),
        caplog.text,
        *[str(v) for v in artifacts_of(summary["run_id"]).values()],
        str(summary),
    ]
    for secret in ("sandbox-token", "sandbox-session"):
        assert not any(secret in text for text in texts)


def test_every_flow_parameter_has_a_description_in_the_run_form() -> None:
    from deployments.serve import all_deployments

    for deployment in all_deployments("data/x.duckdb", "."):
        properties = deployment._parameter_openapi_schema.properties
        assert properties
        for name, schema in properties.items():
            assert schema.get("description"), f"{deployment.name}: {name}"


def test_an_ad_hoc_flow_logs_and_reports_what_it_did(prefect_harness, sandbox,
                                                    tmp_path: Path) -> None:
    from flows.adhoc import enroll_person, recover_removals

    enrolled_population(sandbox, 3)
    db = str(tmp_path / "db.duckdb")
    where = {"db": db, "project": str(tmp_path), "sandbox_url": sandbox.url,
             "sandbox_cert": sandbox.cert}
    cycle(now=NOW, **where)  # the three are removed (unsubscribed)
    with duckdb.connect(db, read_only=True) as con:  # someone no rule excludes
        other = con.execute(
            "select email from crm.people where hubspot_id is not null and owner_email is "
            "not null and email not in (select email from rules.matches) "
            "and email not in (select email from ops.enrollments) order by email limit 1"
        ).fetchall()[0][0]
    state = enroll_person(other, "Enterprise outbound", "ana",
                          return_state=True, **where)
    found = artifacts_of(str(state.state_details.flow_run_id))
    assert f"# Enroll {other} in Enterprise outbound" in str(found["manual-enroll"])
    assert "| enroll | " + other + " | 9001 | sent |" in str(found["manual-enroll"])
    state = recover_removals("unsubscribed", NOW - timedelta(hours=1), "ana",
                             return_state=True, **where)
    report = str(artifacts_of(str(state.state_details.flow_run_id))["recover-plan"])
    assert "# Recover unsubscribed removals since" in report and "still_matches" in report


def test_ad_hoc_flows_are_unscheduled_deployments_with_described_parameters() -> None:
    from deployments.serve import all_deployments

    deployments = {d.name: d for d in all_deployments("data/x.duckdb", ".")}
    assert set(deployments) == {"cycle", "enroll", "unenroll", "recover"}
    for name in ("enroll", "unenroll", "recover"):
        assert not deployments[name].schedules
        assert deployments[name].description
    assert "sequence" in deployments["enroll"]._parameter_openapi_schema.properties
    assert deployments["cycle"].parameters["wait_for_approval"] is True


def test_a_run_that_starts_while_one_is_running_is_skipped_and_says_why(
    prefect_harness, sandbox, tmp_path: Path
) -> None:
    from tasks.run import lock as cycle_lock

    sandbox.reset(seed=3, contacts=50, now=NOW)
    db = str(tmp_path / "db.duckdb")
    with cycle_lock.held(db) as first:  # a cycle is running
        assert first.ours
        summary = cycle(
            now=NOW,
            db=db,
            project=str(tmp_path),
            sandbox_url=sandbox.url,
            sandbox_cert=sandbox.cert,
        )
    assert "another seqguard cycle holds the cycle lock of" in summary["skipped"]
    assert summary["skips"] == 1 and "pid" in summary["held_by"]
    assert not Path(db).exists()  # it touched nothing
    ran = cycle(
        now=NOW, db=db, project=str(tmp_path), sandbox_url=sandbox.url, sandbox_cert=sandbox.cert
    )
    assert "skipped" not in ran and ran["sync"]["hubspot"]["objects"]["contacts"]["fetched"] == 50
