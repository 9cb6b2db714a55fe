"""`make run`'s story: a cycle on a sandbox it starts itself, held by the circuit breaker,
is decided before that sandbox stops (a later `--approve` would find it gone)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb

from bench.prefect_server import BIN


def test_a_demo_hold_is_decided_at_the_prompt_while_its_sandbox_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    db = tmp_path / "seqguard.duckdb"
    done = subprocess.run(
        [str(BIN / "seqguard"), "cycle", "--contacts", "2000", "--db", str(db),
         "--project", str(tmp_path)],
        input="approve\n", env={**env, "USER": "ana"}, cwd=tmp_path, capture_output=True,
        text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "held unenrolls per rule and sequence:" in done.stderr
    assert "decide now: type approve or reject" in done.stderr
    out = done.stdout
    assert "circuit breaker: run " in out
    assert "decision: approved by user:ana via cli" in out and "(decided at the prompt)" in out
    with duckdb.connect(str(db), read_only=True) as con:
        held, sent = con.execute(
            "select count(*) filter (where status = 'held'), "
            "count(*) filter (where status = 'sent') from ops.outbox").fetchall()[0]
    assert held == 0 and sent > 10
    assert f"posted: sent {sent}," in out
