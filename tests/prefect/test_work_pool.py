"""deployments/prefect.yaml on Prefect work pools, as a user registers it: two CRM accounts
on a process pool served by two `prefect worker` processes (one run at a time each) run
their cycles to Completed on different workers, each into its own database; the Docker
variant registers on a Docker pool with its image, volumes and code from the wheel. And
the Dockerfile that image is built from, read for what it must hold (no Docker engine
runs here to build it)."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from bench.prefect_server import BIN, ROOT, PrefectServer, stop_group
from sandbox.client import SandboxClient
from tests.prefect.conftest import wait_for

PREFECT_FILE = "deployments/prefect.yaml"
PROCESS_ACCOUNTS = ("acme", "globex")
DOCKER_ACCOUNTS = ("initech", "umbrella")
AS_WRITTEN = (*(f"cycle-{account}" for account in DOCKER_ACCOUNTS), "enroll", "unenroll", "recover")
RULE = """\
-- rule: competitors
-- description: Everyone at a competitor.
-- level: company
-- exclude_from_sequences: true
-- remove_enrolled: true
-- enabled: true
select 'competitor.test' as company_domain, 'a competitor' as reason
"""


def prefect_cli(server: PrefectServer, *args: str) -> subprocess.Popen:
    """A `prefect` command against the server, from the repository root (where the
    entrypoints in deployments/prefect.yaml are relative to)."""
    return subprocess.Popen([str(BIN / "prefect"), *args], env=server.env(), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(*commands: subprocess.Popen) -> None:
    """Wait for commands started side by side; fail with the output of one that failed."""
    for command in commands:
        output, _ = command.communicate(timeout=180)
        assert command.returncode == 0, f"{command.args}:\n{output[-3000:]}"


@pytest.fixture(scope="module")
def pools(prefect_server: PrefectServer) -> PrefectServer:
    """The two pools deployments/prefect.yaml names, created the way its header says."""
    finish(prefect_cli(prefect_server, "work-pool", "create", "seqguard", "--type", "process"),
           prefect_cli(prefect_server, "work-pool", "create", "seqguard-docker",
                       "--type", "docker"))
    return prefect_server


@pytest.fixture(scope="module")
def workers(pools: PrefectServer, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, Path]]:
    """Two process workers on the pool, polling every second, one flow run at a time each:
    two runs at once must go to both."""
    logs = tmp_path_factory.mktemp("workers")
    started = {}
    for name in ("worker-1", "worker-2"):
        log = logs / f"{name}.log"
        started[name] = (log, subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "seqguard", "--type", "process",
             "--name", name, "--limit", "1"],
            env=pools.env(PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_LOGGING_LEVEL="INFO"),
            cwd=logs, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True))
    try:
        yield {name: log for name, (log, _) in started.items()}
    finally:
        for name, (log, worker) in started.items():
            stop_group(worker, timeout=5)  # an idle worker has nothing to finish (was 2 x 20 s)
            print(f"--- {name}\n{log.read_text()[-2000:]}")


def small_project(root: Path) -> Path:
    """An account's project folder: one rule, no seqguard.yml (the CRMs are the sandbox's)."""
    (root / "sql" / "exclusions").mkdir(parents=True)
    (root / "sql" / "exclusions" / "competitors.sql").write_text(RULE)
    return root


@pytest.fixture(scope="module")
def registered(pools: PrefectServer, sandbox: SandboxClient,
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every deployment of prefect.yaml registered with `prefect deploy`, side by
    side: the process pool's accounts with their paths moved into a tmp folder and their
    CRMs pointed at the sandbox (one `prefect deploy` each: --param applies to every
    deployment named), the rest as written. Returns each process account's db."""
    tmp = tmp_path_factory.mktemp("accounts")
    dbs = {account: tmp / "data" / account / "seqguard.duckdb" for account in PROCESS_ACCOUNTS}
    deploy = ("--no-prompt", "deploy", "--prefect-file", PREFECT_FILE)
    finish(*(prefect_cli(
        pools, *deploy, "--name", f"cycle-{account}", "--param", f"db={dbs[account]}",
        "--param", f"project={small_project(tmp / 'projects' / account)}",
        "--param", f"sandbox_url={sandbox.url}", "--param", f"sandbox_cert={sandbox.cert}")
        for account in PROCESS_ACCOUNTS),
        prefect_cli(pools, *deploy, *(arg for name in AS_WRITTEN for arg in ("--name", name))))
    return dbs


def test_two_accounts_run_their_cycles_on_different_workers_into_their_own_databases(
        workers: dict[str, Path], registered: dict[str, Path], pools: PrefectServer,
        sandbox: SandboxClient) -> None:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    sandbox.reset(seed=5, contacts=20)
    with pools.settings(), get_client(sync_client=True) as client:
        deployments = {account: client.read_deployment_by_name(f"seqguard-cycle/cycle-{account}")
                       for account in PROCESS_ACCOUNTS}
        for account, deployment in deployments.items():
            assert deployment.work_pool_name == "seqguard"
            assert deployment.entrypoint == "flows/cycle.py:cycle"
            assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory":
                                              {"directory": str(ROOT)}}]
            assert [s.schedule.cron for s in deployment.schedules] == ["*/15 * * * *"]
            assert deployment.concurrency_limit is None  # the per-database lock decides
            assert deployment.parameters["db"] == str(registered[account])
            assert deployment.parameters["wait_for_approval"] is True
            # no scheduled run may take a worker while the test's own two runs wait
            client.pause_deployment(deployment.id)

        runs = {account: run_deployment(deployment.id, timeout=0)
                for account, deployment in deployments.items()}
        finals = {account: wait_for(
            f"the cycle of {account} to finish",
            lambda run=run: (now := client.read_flow_run(run.id)).state.is_final() and now,
            timeout=120) for account, run in runs.items()}
        for account, final in finals.items():
            assert final.state.name == "Completed", (account, final.state.message)

    # the worker that took a run labels it with its name
    ran_on = sorted(final.labels["prefect.worker.name"] for final in finals.values())
    assert ran_on == sorted(workers), ran_on

    for account, db in registered.items():
        with duckdb.connect(str(db), read_only=True) as con:
            assert con.execute("select status from ops.runs").fetchall() == [("finished",)], \
                account


def test_the_docker_variant_registers_with_the_image_a_volume_per_account_and_no_pull(
        registered: dict[str, Path], pools: PrefectServer) -> None:
    from prefect.client.orchestration import get_client

    with pools.settings(), get_client(sync_client=True) as client:
        for account in DOCKER_ACCOUNTS:
            deployment = client.read_deployment_by_name(f"seqguard-cycle/cycle-{account}")
            client.pause_deployment(deployment.id)  # no Docker worker here to run it
            assert deployment.work_pool_name == "seqguard-docker"
            assert deployment.entrypoint == "flows.cycle.cycle"  # from the wheel in the image
            assert deployment.pull_steps == []
            assert deployment.parameters["db"] == f"/data/{account}/seqguard.duckdb"
            assert deployment.parameters["project"] == "/project"
            job = deployment.job_variables
            assert job["image"] == "seqguard:0.1.0"
            assert job["volumes"] == [f"seqguard-{account}:/data",
                                      f"/srv/seqguard/{account}:/project:ro"]
            assert set(job["env"]) == {"PREFECT_LOGGING_LEVEL"}  # nothing secret


def test_the_adhoc_flows_register_on_the_process_pool_without_a_schedule(
        registered: dict[str, Path], pools: PrefectServer) -> None:
    from prefect.client.orchestration import get_client

    with pools.settings(), get_client(sync_client=True) as client:
        for name in ("enroll", "unenroll", "recover"):
            deployment = client.read_deployment_by_name(f"seqguard-{name}/{name}")
            assert deployment.work_pool_name == "seqguard" and deployment.schedules == []


def test_every_account_in_prefect_yaml_has_a_database_path_of_its_own() -> None:
    # the lock is named after the path on a server-wide Prefect: a path shared by two
    # accounts, even on two machines, would make them take turns
    deployments = yaml.safe_load((ROOT / PREFECT_FILE).read_text())["deployments"]
    cycles = {d["name"]: d for d in deployments if d["entrypoint"].endswith("cycle")}
    assert set(cycles) == {f"cycle-{a}" for a in (*PROCESS_ACCOUNTS, *DOCKER_ACCOUNTS)}
    for name, deployment in cycles.items():
        assert deployment["parameters"]["db"] == f"/data/{name[len('cycle-'):]}/seqguard.duckdb"
        assert "concurrency_limit" not in deployment, name


def dockerfile_stages(path: Path) -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), continuation
    lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")))
    stages: list[list[tuple[str, str]]] = []
    for line in filter(str.strip, text.splitlines()):
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), " ".join(arguments.split())))
    return stages


def test_the_image_installs_the_locked_wheel_as_a_user_with_a_data_volume() -> None:
    stages = dockerfile_stages(ROOT / "Dockerfile")
    for stage in stages:  # every stage on the Python the package requires, pinned
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:\w+)?( AS \w+)?",
                            stage[0][1]), stage[0]
    *_, final = stages
    runs = " && ".join(arguments for instruction, arguments in final if instruction == "RUN")
    assert re.search(r"pip install .*-c \S*requirements\.lock \S*seqguard-\S*\.whl", runs), runs
    assert any(instruction == "COPY" and "requirements.lock" in arguments
               for instruction, arguments in final)
    users = [arguments for instruction, arguments in final if instruction == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    volumes = [json.loads(arguments) for instruction, arguments in final
               if instruction == "VOLUME"]
    assert ["/data"] in volumes, volumes
    # exec form, after USER; no ENTRYPOINT, which a Docker worker's command would be
    # prefixed to
    instructions = [instruction for instruction, _ in final]
    assert "ENTRYPOINT" not in instructions
    assert instructions.index("USER") < instructions.index("CMD")
    command = json.loads(dict(final)["CMD"])
    assert command[:2] == ["seqguard", "serve"], command
    assert command[command.index("--db") + 1].startswith("/data/"), command
    assert command[command.index("--project") + 1] == "/project", command


def test_the_build_context_holds_the_packages_and_the_lock_and_nothing_else() -> None:
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines[0] == "*"  # an allow-list: no venv, database or .env slips in
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {pattern.rstrip("*")
                for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages | {"pyproject.toml", "requirements.lock", "sql"} <= allowed, allowed

