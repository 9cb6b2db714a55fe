"""The one place that opens the DuckDB database and applies the schema migrations.

Everything else takes a path and calls `connect`; nothing assumes a local file beyond
this module (a MotherDuck or DuckLake URL would be handled here). What goes wrong with
the file itself (another process holds its lock, no permission, not a DuckDB file,
truncated or corrupt, the disk full) becomes one StoreError line naming the cause and its
fix, wherever in the block it happens; DuckDB rolls back the transaction that failed, so
what was committed before stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from tasks.core.errors import StoreError
from tasks.db import sql

# the model's shared normalizations (crm.normalize_email, ...): rule output and decisions
# go through them, so every database has them from its first migration on; the model
# step re-creates them each cycle, so they follow the code
MODEL_MACROS = "model/000_macros"

# (what DuckDB or the OS says, what it means and how to fix it); the first match wins
STORAGE_PROBLEMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), fix) for pattern, fix in (
        (r"Conflicting lock is held in .*\(PID (\d+)\)",
         "another process (PID {0}) has the database open, most likely another seqguard "
         "run; wait for it to finish (or stop that process), then run again"),
        (r"No space left on device|Disk quota exceeded",
         "the disk is full ({line}); nothing of the step that failed was committed and "
         "what was committed before is kept: free space on the disk, then run again"),
        (r"Read-only file system",
         "the disk holding the database is mounted read-only ({line}); mount it read-write, "
         "or pass --db with a path on a writable disk"),
        (r"Permission denied|Operation not permitted",
         "no permission to write the database ({line}); run seqguard as the user that owns "
         "the file, or give that user write access to it and to its folder (DuckDB writes "
         "a .wal file beside it)"),
        (r"not a valid DuckDB database file",
         "this file is not a DuckDB database; pass --db with the path of seqguard's "
         "database, or move the file away to start a new one"),
        (r"Could not read enough bytes|Corrupt database file|checksum|not enough bytes",
         "the database file is truncated or corrupt ({line}); restore it from a backup, or "
         "move it away and run again to start a new one (a full re-sync rebuilds the CRM "
         "data; decision history is lost)"),
    ))


def storage_error(path: Path, exc: Exception) -> StoreError | None:
    """The one-line StoreError for a problem with the database file itself, else None."""
    line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for pattern, fix in STORAGE_PROBLEMS:
        found = pattern.search(str(exc))
        if found:
            return StoreError(f"{path}: {fix.format(*found.groups(), line=line)}")
    return None


@contextmanager
def connect(
    db_path: str | Path, read_only: bool = False, config: dict[str, str | bool] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database (migrated, unless read-only) and close it afterwards.

    `config` is passed to DuckDB at open time, e.g. the locked-down settings rules run
    under (`enable_external_access: False`, `lock_configuration: True`).
    """
    path = Path(db_path)
    try:
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path), read_only=read_only, config=config or {})
    except (duckdb.Error, OSError) as exc:
        raise storage_error(path, exc) or StoreError(
            f"{path}: cannot open the database ({str(exc).splitlines()[0]}); check the "
            "path given with --db") from exc
    try:
        if not read_only:
            migrate(con)
        yield con
    except duckdb.Error as exc:
        problem = storage_error(path, exc)
        if problem is None:
            raise
        raise problem from exc
    finally:
        _close(con, path)


def _close(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Close (which may checkpoint, and so write); a full disk there is one line too."""
    try:
        con.close()
    except duckdb.Error as exc:
        raise storage_error(path, exc) or exc from exc


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every sql/schema/NNN_*.sql not applied yet, in order; returns their names."""
    sql.run(con, "schema/migrations")
    done = {r[0] for r in con.execute("select name from ops.migrations").fetchall()}
    applied = []
    for name, text in sql.numbered("schema"):
        if name in done:
            continue
        with transaction(con):
            con.execute(text)
            con.execute("insert into ops.migrations values (?, now()::timestamp)", [name])
        applied.append(name)
    if applied:
        sql.run(con, MODEL_MACROS)
    return applied
