"""Fixtures for hostile-file tests: the rules tests' database and project folder, the CLI
run in a child process (so a hang becomes a timeout, not a stuck suite), and an outbox
row the circuit breaker holds, which no file may release."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from tests.rules.conftest import db, migrated_template, project, query  # noqa: F401
from tests.rules.conftest import insert as insert  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
SECRET = "pat-na1-5ec7e7-do-not-print"


def seqguard(*args: str, timeout: float = 60, cwd: Path | None = None
             ) -> subprocess.CompletedProcess:
    """`seqguard ARGS` in a child process with SEQGUARD_HUBSPOT_TOKEN set to SECRET."""
    env = {**os.environ, "SEQGUARD_HUBSPOT_TOKEN": SECRET,
           "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"),
                                                       str(REPO)]))}
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=cwd)


def hold_an_unenroll(db_path: Path) -> None:
    """One unenroll the breaker stopped: status 'held' until someone approves it."""
    insert(db_path, "ops.outbox", [{
        "change_id": "held-1", "run_id": "run-0", "created_at": datetime(2026, 3, 1, 12),
        "kind": "unenroll", "crm": "hubspot", "sequence_id": "seq-1",
        "email": "ann@acme.com", "actor": "seqguard", "status": "held", "attempts": 0}])


def outbox(db_path: Path) -> list[tuple]:
    return query(db_path, "select change_id, status from ops.outbox order by 1")
