"""What happened, for the operator: the latest runs (`seqguard runs`) and everything that
happened to one person (`seqguard history EMAIL`, a contact's "Exclusions tab").

Both read what the last cycle, decision or manual action published (store.connect_reader),
so they answer while a cycle runs, and return plain rows; the CLI renders them as text or
JSON.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import duckdb

from tasks.core.errors import SeqguardError
from tasks.db import sql
from tasks.db.store import connect_reader
from tasks.post import approval


class HistoryError(SeqguardError):
    """Nothing to show: no database yet, or a person seqguard has never seen."""


def recent_runs(db_path: str | Path, limit: int = 20) -> dict[str, Any]:
    """The latest `limit` cycles, newest first, and the holds awaiting a decision."""
    with _reader(db_path) as con:
        runs = sql.dicts(con, "run/recent_runs", limit=limit)
    return {"runs": runs, "awaiting_approval": approval.pending_holds(db_path, "")}


def person_history(db_path: str | Path, email: str) -> dict[str, Any]:
    """Every match, decision, enrollment change and post of one person, oldest first."""
    email = email.strip().lower()
    with _reader(db_path) as con:
        rows = sql.dicts(con, "run/person_history", email=email)
        known = sql.dicts(con, "rules/person", email=email)
    if not rows and not known:
        raise HistoryError(f"{email}: seqguard has no record of this person (not in the "
                           "CRMs as last synced, never matched, enrolled or unenrolled); "
                           "check the spelling, or run `seqguard cycle` to sync new contacts")
    return {"email": email, "person": known[0] if known else None, "history": rows}


def _reader(db_path: str | Path) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    path = Path(db_path)
    if not path.exists():
        raise HistoryError(f"{path}: no database yet; run `seqguard cycle` first, or pass "
                           "--db with the database's path")
    return connect_reader(path)
