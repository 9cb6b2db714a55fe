"""A held run on a real `prefect server start`: reviewable before the decision (report,
changes table, the form's counts and sample), decided by the form or the CLI as one
mechanism (either closes the other's pause), an explicit choice, the note kept, a
rejected run that says so, and a rejected set that the next cycle does not hold again."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from bench.prefect_server import BIN, ROOT, PrefectServer
from sandbox.client import SandboxClient
from tests.flows.test_cycle_flow import NOW, artifacts_of, enrolled_population

HELD = 12  # unsubscribed people in a sequence: over the breaker's thresholds

CYCLE = """
import json, sys
from datetime import datetime
from flows.cycle import cycle
summary = cycle(now=datetime.fromisoformat(sys.argv[1]), db=sys.argv[2], project=sys.argv[3],
                sandbox_url=sys.argv[4], sandbox_cert=sys.argv[5], wait_for_approval=True)
print(json.dumps(summary, default=str))
"""


@pytest.fixture
def on_server(prefect_server: PrefectServer) -> Iterator[PrefectServer]:
    with prefect_server.settings():
        yield prefect_server


@pytest.fixture
def children() -> Iterator[Callable[[subprocess.Popen], subprocess.Popen]]:
    """Child processes of a test, killed if the test leaves them running."""
    started: list[subprocess.Popen] = []

    def track(child: subprocess.Popen) -> subprocess.Popen:
        started.append(child)
        return child

    yield track
    for child in started:
        if child.poll() is None:
            child.kill()
            child.communicate()


def waiting_cycle(server: PrefectServer, sandbox: SandboxClient, db: Path,
                  project: Path) -> subprocess.Popen:
    """A served cycle (wait_for_approval) in its own process, as a worker runs it."""
    return subprocess.Popen(
        [sys.executable, "-c", CYCLE, NOW.isoformat(), str(db), str(project), sandbox.url,
         str(sandbox.cert)], env=server.env(), cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def paused_run(child: subprocess.Popen, timeout: float = 180) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()
        with get_client(sync_client=True) as client:
            found = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=["PAUSED"]))))
        if found:
            return str(found[0].id)
        time.sleep(0.5)
    raise AssertionError("the run did not pause for approval")


def form_text(flow_run_id: str) -> str:
    """The description the paused run's form shows."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    async def read() -> str:
        async with get_client() as client:
            flow_run = await client.read_flow_run(UUID(flow_run_id))
            keyset = flow_run.state.state_details.run_input_keyset
            return json.loads(await client.read_flow_run_input(UUID(flow_run_id),
                                                               keyset["description"]))

    return asyncio.run(read())


def final_state(flow_run_id: str):
    from uuid import UUID

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(UUID(flow_run_id)).state


def cli(server: PrefectServer, sandbox: SandboxClient, db: Path, project: Path,
        *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "seqguard"), "cycle", *argv, "--db", str(db), "--project", str(project),
         "--sandbox", sandbox.url, "--sandbox-cert", str(sandbox.cert)],
        env=server.env(USER="ana"), cwd=ROOT, capture_output=True, text=True, timeout=300)


def finished(child: subprocess.Popen) -> dict:
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_a_held_run_is_reviewable_and_the_cli_closes_the_forms_pause(
        on_server: PrefectServer, sandbox: SandboxClient, tmp_path: Path,
        children: Callable[[subprocess.Popen], subprocess.Popen]) -> None:
    from prefect.flow_runs import resume_flow_run

    enrolled_population(sandbox, HELD)
    held_people = {c["email"].lower() for c in sandbox.table("hs_contacts")[:HELD]}
    db = tmp_path / "seqguard.duckdb"
    child = children(waiting_cycle(on_server, sandbox, db, tmp_path))
    run_id = paused_run(child)
    # before anyone decides: the report, the changes table, and the form's figures
    found = artifacts_of(run_id)
    assert "would unenroll 12 people" in str(found["cycle-report"])
    changes = json.loads(str(found["exclusion-changes"]))
    assert {c["email"] for c in changes if c["kind"] == "unenroll"} == set(held_people)
    form = form_text(run_id)
    assert "| unsubscribed | Enterprise outbound | 12 |" in form
    assert form.count("@") >= HELD and f"seqguard cycle --approve {run_id}" in form
    # no silent default: the form cannot be sent without a choice
    with pytest.raises(RuntimeError, match="decision"):
        resume_flow_run(run_id, run_input={"approver": "ana"})
    assert all(e["state"] == "active" for e in sandbox.enrollments())

    done = cli(on_server, sandbox, db, tmp_path, "--approve", run_id, "--note", "list checked")
    assert done.returncode == 0, done.stderr
    assert f"run {run_id}: approved by user:ana via cli" in done.stdout
    assert "(list checked): 12 changes" in done.stdout
    assert "paused flow run was resumed" in done.stdout
    summary = finished(child)
    assert summary["approval"]["status"] == "approved"
    assert summary["approval"]["via"] == "cli" and summary["post"]["sent"] == HELD
    assert final_state(run_id).is_completed()
    sandbox.set_clock(NOW + timedelta(minutes=5))  # HubSpot's unenroll workflow acts
    assert {e["state"] for e in sandbox.enrollments()} == {"unenrolled"}
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select decision, actor, note, via from ops.approvals").fetchall() == [
            ("approved", "user:ana", "list checked", "cli")]
        assert con.execute("select status from ops.runs").fetchall() == [("finished",)]


def test_a_rejection_in_the_form_says_rejected_and_is_not_held_again(
        on_server: PrefectServer, sandbox: SandboxClient, tmp_path: Path,
        children: Callable[[subprocess.Popen], subprocess.Popen]) -> None:
    from prefect.flow_runs import resume_flow_run

    enrolled_population(sandbox, HELD)
    db = tmp_path / "seqguard.duckdb"
    child = children(waiting_cycle(on_server, sandbox, db, tmp_path))
    run_id = paused_run(child)
    # a cycle started while the hold waits says so, and leaves the held people to it
    meanwhile = cli(on_server, sandbox, db, tmp_path, "--json",
                    "--now", (NOW + timedelta(minutes=15)).isoformat())
    assert meanwhile.returncode == 0, meanwhile.stderr
    waiting = json.loads(meanwhile.stdout)["breaker"]["waiting"]
    assert [(w["run_id"], w["held"]) for w in waiting] == [(run_id, HELD)]
    assert json.loads(meanwhile.stdout)["decide"]["unenroll"] == 0

    resume_flow_run(run_id, run_input={"decision": "reject", "approver": "ana",
                                       "note": "the opt-outs are a sync glitch"})
    summary = finished(child)
    assert summary["approval"]["status"] == "rejected"
    state = final_state(run_id)
    assert state.name == "Rejected" and "the opt-outs are a sync glitch" in state.message
    assert all(e["state"] == "active" for e in sandbox.enrollments())

    later = cli(on_server, sandbox, db, tmp_path, "--json",
                "--now", (NOW + timedelta(minutes=30)).isoformat())
    assert later.returncode == 0, later.stderr
    decided = json.loads(later.stdout)
    assert (decided["decide"]["unenroll"], decided["decide"]["rejected_before"]) == (0, HELD)
    assert not decided["breaker"]["tripped"] and decided["breaker"]["waiting"] == []
    again = cli(on_server, sandbox, db, tmp_path, "--approve", run_id)
    assert again.returncode == 2
    assert again.stderr.strip() == (
        f"seqguard cycle: run {run_id} was already rejected by ana via prefect-form at "
        f"{summary['approval']['decided_at'][:16]} (the opt-outs are a sync glitch): 12 changes")
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select status from ops.runs where run_id = ?",
                           [run_id]).fetchall() == [("rejected",)]
