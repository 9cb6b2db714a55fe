"""Time cannot go back by accident (issue 14, item 8): a cycle time earlier than the last
committed run's is refused, on the CLI and as the flow parameter, unless it is a dry run
or the person says --allow-past-now."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from flows.cli import main
from flows.cycle import cycle
from sandbox.client import SandboxClient
from tasks import steps
from tasks.core.errors import ConfigError
from tasks.db.store import connect

DECEMBER = datetime(2026, 12, 3, 10, 15)
JANUARY = datetime(2026, 1, 1)


def committed(db: Path, run_id: str, now: datetime, status: str = "finished",
              dry_run: bool = False) -> None:
    """An ops.runs row as a finished run leaves it."""
    with connect(db) as con:
        con.execute("insert into ops.runs (run_id, started_at, now, dry_run, status) "
                    "values (?, ?, ?, ?, ?)", [run_id, now, now, dry_run, status])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "seqguard.duckdb"
    committed(path, "december-run", DECEMBER)
    return path


def start(db: Path, now: datetime, dry_run: bool = False,
          allow_past_now: bool = False) -> steps.Run:
    return steps.start_run.fn(steps.Target(db=str(db), project="."), now, dry_run,
                              allow_past_now)


def test_a_cycle_time_before_the_last_committed_run_is_refused(db: Path) -> None:
    with pytest.raises(ConfigError, match=r"cycle time 2026-01-01 00:00:00 is before "
                                          r"2026-12-03 10:15:00, the cycle time of run "
                                          r"december-run .*--allow-past-now"):
        start(db, JANUARY)
    with connect(db) as con:  # nothing recorded for the refused run
        assert con.execute("select run_id from ops.runs").fetchall() == [("december-run",)]


def test_a_dry_run_or_an_explicit_flag_may_go_back(db: Path) -> None:
    assert start(db, JANUARY, dry_run=True).now == JANUARY
    assert start(db, JANUARY, allow_past_now=True).now == JANUARY
    assert start(db, DECEMBER).now == DECEMBER  # the same time again is no step back


def test_what_counts_is_the_last_run_whose_decisions_were_committed(tmp_path: Path) -> None:
    db = tmp_path / "seqguard.duckdb"
    committed(db, "looked", DECEMBER, dry_run=True)
    committed(db, "failed-at-sync", DECEMBER, status="running")
    assert start(db, JANUARY).now == JANUARY
    # a run that crashed after writing its changes did commit them
    committed(db, "crashed-after-deciding", DECEMBER, status="running")
    with connect(db) as con:
        con.execute("insert into ops.outbox (change_id, run_id, created_at, kind, crm, "
                    "sequence_id, email, actor, status) values ('c1', "
                    "'crashed-after-deciding', ?, 'unenroll', 'hubspot', '1', 'a@b.test', "
                    "'seqguard', 'sent')", [DECEMBER])
    with pytest.raises(ConfigError, match="run crashed-after-deciding"):
        start(db, JANUARY)


def test_the_cli_refuses_in_one_line_and_posts_nothing(db: Path, sandbox: SandboxClient,
                                                       capsys) -> None:
    sandbox.reset(seed=1, contacts=10)
    sandbox.clear_requests()
    code = main(["cycle", "--db", str(db), "--project", str(db.parent), "--sandbox",
                 sandbox.url, "--sandbox-cert", str(sandbox.cert), "--now", "2026-01-01"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("seqguard cycle: cycle time 2026-01-01")
    assert "--dry-run" in err and "--allow-past-now" in err
    assert sandbox.requests() == []


def test_the_flow_parameter_is_refused_the_same_way(prefect_harness, db: Path) -> None:
    with pytest.raises(ConfigError, match="is before 2026-12-03 10:15:00"):
        cycle(now=JANUARY, db=str(db), project=str(db.parent))
