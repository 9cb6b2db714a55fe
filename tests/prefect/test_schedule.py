"""`prefect server start` + `seqguard serve`, as a new user runs them: the server
schedules the */15 cycle and the served process runs a scheduled cycle to Completed."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.prefect_server import BIN, ROOT, PrefectServer, stop_group
from sandbox.client import SandboxClient
from tests.prefect.conftest import wait_for


@pytest.fixture(scope="module")
def served(prefect_server: PrefectServer, sandbox: SandboxClient,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """`seqguard serve` against the server, polling for due runs every second."""
    sandbox.reset(seed=3, contacts=30)
    work = tmp_path_factory.mktemp("serve")
    log = (work / "serve.log").open("w")
    serve = subprocess.Popen(
        [str(BIN / "seqguard"), "serve", "--db", str(work / "seqguard.duckdb"),
         "--project", str(ROOT), "--sandbox", sandbox.url, "--sandbox-cert", str(sandbox.cert)],
        env=prefect_server.env(PREFECT_RUNNER_POLL_FREQUENCY="1"), cwd=ROOT,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield prefect_server
    finally:
        stop_group(serve)
        log.close()
        print(Path(log.name).read_text()[-3000:])


def test_the_server_schedules_the_cycle_and_a_due_run_completes(served: PrefectServer) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.states import Scheduled

    with served.settings(), get_client(sync_client=True) as client:
        def scheduled_runs() -> list:
            return client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["cycle"])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC)

        # the scheduler (1 s loop) fills the schedule once `seqguard serve` registers it
        runs = wait_for("the */15 cycle's scheduled runs", scheduled_runs, timeout=45)
        starts = [run.expected_start_time for run in runs]
        assert len(starts) >= 3, starts
        assert all(s.minute % 15 == 0 and s.second == 0 for s in starts), starts
        assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(starts)), starts

        # the next scheduled run, brought forward to a few seconds from now (unless it is
        # due that soon anyway), is picked up by the served process and completes
        due = runs[0]
        if due.expected_start_time - datetime.now(UTC) > timedelta(seconds=20):
            client.set_flow_run_state(
                due.id, Scheduled(scheduled_time=datetime.now(UTC) + timedelta(seconds=3)),
                force=True)
        final = wait_for(
            "the scheduled cycle run to finish",
            lambda: (run := client.read_flow_run(due.id)).state.is_final() and run,
            timeout=90)
        assert final.state.type == StateType.COMPLETED, (final.state.name, final.state.message)
        assert final.state.name == "Completed"


def test_serve_without_a_prefect_api_refuses_in_one_line(tmp_path: Path) -> None:
    # a temporary Prefect server runs no scheduler: serving there would never run a cycle
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    done = subprocess.run([str(BIN / "seqguard"), "serve", "--db", str(tmp_path / "x.duckdb")],
                          env={**env, "PREFECT_HOME": str(tmp_path)}, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done
    assert done.stderr.startswith("seqguard serve: no Prefect API configured"), done.stderr
    assert "PREFECT_API_URL=" in done.stderr and len(done.stderr.splitlines()) == 1
