"""The cycle lock against a real `prefect server start`: one lock per database, released
by the death of its holder, and skips that say so (on the CLI) and fail loudly (in
Prefect) once the lock has been held past two cycles."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.prefect_server import BIN, ROOT, PrefectServer
from tasks.run import lock as cycle_lock

HOLD = """
import sys, time
from tasks.run import lock as cycle_lock
with cycle_lock.held(sys.argv[1]) as lock:
    print("held" if lock.ours else "skipped", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def on_server(prefect_server: PrefectServer) -> Iterator[PrefectServer]:
    with prefect_server.settings():
        yield prefect_server


def hold_in_child(server: PrefectServer, db: Path) -> subprocess.Popen:
    """A process holding the lock of `db` (both parts), as a running cycle would."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], env=server.env(),
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "held"
    return child


def active_slots(name: str) -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name).active_slots


def run_cli_cycle(server: PrefectServer, sandbox, db: Path,
                  project: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "seqguard"), "cycle", "--db", str(db), "--project", str(project),
         "--sandbox", sandbox.url, "--sandbox-cert", str(sandbox.cert)],
        env=server.env(), cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_a_killed_holder_frees_the_lock_for_the_next_cycle_at_once(
        on_server: PrefectServer, tmp_path: Path) -> None:
    db = tmp_path / "seqguard.duckdb"
    name = cycle_lock.lock_name(str(db))
    holder = hold_in_child(on_server, db)
    holder.kill()  # kill -9: no release, no goodbye
    holder.wait()
    assert active_slots(name) == 1  # its lease has not expired
    # the file lock went with the process, so the recorded holder on this machine is dead:
    # its slot is freed and taken by the next cycle without waiting for the lease
    with cycle_lock.held(str(db)) as lock:
        assert lock.ours
        assert active_slots(name) == 1
    assert active_slots(name) == 0  # and released again after


def test_a_holder_elsewhere_keeps_its_lease_until_it_expires(
        on_server: PrefectServer, tmp_path: Path) -> None:
    db = tmp_path / "seqguard.duckdb"
    name = cycle_lock.lock_name(str(db))
    holder = hold_in_child(on_server, db)
    # as if it ran on another machine: its death cannot be told from here
    from prefect.variables import Variable
    record = Variable.get(name)
    Variable.set(name, {**record, "host": "another-host"}, overwrite=True)
    holder.kill()
    holder.wait()
    killed = time.monotonic()
    with cycle_lock.held(str(db)) as lock:
        assert not lock.ours
    while active_slots(name) and time.monotonic() - killed < 120:
        time.sleep(0.5)
    freed = time.monotonic() - killed
    # the lease (renewed when taken) expires at most LEASE_SECONDS after the kill, and this
    # server's repossessor looks every 2 s
    assert freed <= cycle_lock.LEASE_SECONDS + 8, freed
    with cycle_lock.held(str(db)) as lock:
        assert lock.ours


def test_two_databases_do_not_block_each_other(on_server: PrefectServer,
                                               tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "seqguard.duckdb", tmp_path / "b" / "seqguard.duckdb"
    holder = hold_in_child(on_server, first)
    try:
        with cycle_lock.held(str(second)) as other_db:
            assert other_db.ours
            assert active_slots(cycle_lock.lock_name(str(second))) == 1
        with cycle_lock.held(str(first)) as same_db:
            assert not same_db.ours and "pid" in same_db.other.holder
        assert cycle_lock.lock_name(str(first)) != cycle_lock.lock_name(str(second))
        assert cycle_lock.lock_name(str(first)).startswith("seqguard-cycle-seqguard-")
    finally:
        holder.kill()
        holder.wait()


def test_a_skipped_cli_cycle_says_so_on_stderr_and_exits_non_zero(
        on_server: PrefectServer, sandbox, tmp_path: Path) -> None:
    db = tmp_path / "seqguard.duckdb"
    with cycle_lock.held(str(db)) as lock:
        assert lock.ours
        done = run_cli_cycle(on_server, sandbox, db, tmp_path)
    assert done.returncode == 75, done
    assert "skipped: another seqguard cycle holds the cycle lock of " + str(db) in done.stderr
    assert done.stdout == ""
    assert not db.exists()  # it touched nothing


def test_the_third_skip_in_a_row_fails_the_run_naming_the_database(
        on_server: PrefectServer, sandbox, tmp_path: Path) -> None:
    from flows.cycle import cycle

    db = tmp_path / "seqguard.duckdb"
    where = {"db": str(db), "project": str(tmp_path), "sandbox_url": sandbox.url,
             "sandbox_cert": str(sandbox.cert)}
    with cycle_lock.held(str(db)):
        states = [cycle(**where, return_state=True) for _ in range(3)]
    assert [s.name for s in states] == ["Skipped", "Skipped", "Failed"]
    assert states[0].is_completed() and "skip 1 in a row" in states[0].message
    assert str(db) in states[2].message and "skip 3 in a row" in states[2].message
    assert "held by pid" in states[2].message and "for 0 min" in states[2].message
    ran = run_cli_cycle(on_server, sandbox, db, tmp_path)  # the lock is free: the next runs
    assert ran.returncode == 0 and "skipped" not in ran.stderr, ran


def test_a_lock_held_past_two_cycles_fails_the_first_skip(on_server: PrefectServer,
                                                         sandbox, tmp_path: Path) -> None:
    from prefect.variables import Variable

    from flows.cycle import cycle

    db = tmp_path / "seqguard.duckdb"
    with cycle_lock.held(str(db)) as lock:
        since = datetime.now(UTC) - timedelta(minutes=31)
        Variable.set(lock.name, {"holder": "flow run 42", "since": since.isoformat(),
                                 "skips": 0}, overwrite=True)
        state = cycle(db=str(db), project=str(tmp_path), sandbox_url=sandbox.url,
                      sandbox_cert=str(sandbox.cert), return_state=True)
    assert state.is_failed()
    assert "held by flow run 42 for 31 min" in state.message and str(db) in state.message
