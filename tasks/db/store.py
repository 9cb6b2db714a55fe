"""The one place that opens the DuckDB database and applies the schema migrations.

Everything else takes a path and calls `connect`; nothing assumes a local file beyond
this module (a MotherDuck or DuckLake URL would be handled here). What goes wrong with
the file itself (another process holds its lock, no permission, not a DuckDB file,
truncated or corrupt, the disk full) becomes one StoreError line naming the cause and its
fix, wherever in the block it happens; DuckDB rolls back the transaction that failed, so
what was committed before stays.
"""

from __future__ import annotations

import os
import re
import shutil
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
# cycle_time() and has_option(), stored so rules run unchanged in a plain DuckDB session
RULE_MACROS = "rules/macros"

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


# a file named after one of seqguard's schemas (ops.duckdb) would give DuckDB a catalog of
# that name, and every `ops.x` would be ambiguous; such a file is attached under this alias
ALIAS = "seqguard"
SCHEMA_NAMES = frozenset({"crm", "lists", "ops", "raw_hubspot", "raw_salesforce", "rules",
                          "staging", "main", "temp", "system", "memory"})
# beside a database, the copy a finished cycle publishes for readers (tasks/run/runs.py)
READER_SUFFIX = ".reader.duckdb"


class DatabaseLocked(StoreError):
    """Another process (a cycle) holds the database file's write lock."""


def reader_copy(db_path: str | Path) -> Path:
    """Where the read-only copy of a database is published: data/seqguard.reader.duckdb."""
    path = Path(db_path)
    return path.with_name(path.name.removesuffix(".duckdb") + READER_SUFFIX)


def _open(path: Path, read_only: bool,
          config: dict[str, str | bool] | None) -> duckdb.DuckDBPyConnection:
    """A connection to the file; DuckDB names its catalog after the file up to the first
    dot, so a name that is also a schema's is attached under ALIAS instead."""
    try:
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        if path.name.split(".")[0].lower() not in SCHEMA_NAMES:
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        con = duckdb.connect(":memory:")
        try:
            con.execute(f"attach ? as {ALIAS}" + (" (read_only)" if read_only else ""),
                        [str(path)])
            con.execute(f"use {ALIAS}")
            con.execute("detach memory")  # so cursors (con.cursor()) default to it too
            # the settings `config` would have set at open time (lock_configuration last)
            for key, value in sorted((config or {}).items(),
                                     key=lambda item: item[0] == "lock_configuration"):
                con.execute(f"set {key} = ?", [value])
        except BaseException:
            con.close()
            raise
        return con
    except (duckdb.Error, OSError) as exc:
        problem = storage_error(path, exc)
        if problem is not None and "Conflicting lock" in str(exc):
            raise DatabaseLocked(str(problem)) from exc
        raise problem or StoreError(
            f"{path}: cannot open the database ({str(exc).splitlines()[0]}); check the "
            "path given with --db") from exc


@contextmanager
def connect(
    db_path: str | Path, read_only: bool = False, config: dict[str, str | bool] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database (migrated, unless read-only) and close it afterwards.

    `config` is passed to DuckDB at open time, e.g. the locked-down settings rules run
    under (`enable_external_access: False`, `lock_configuration: True`).
    """
    path = Path(db_path)
    con = _open(path, read_only, config)
    with _session(con, path):
        if not read_only:
            migrate(con)
        yield con


@contextmanager
def connect_reader(db_path: str | Path, config: dict[str, str | bool] | None = None
                   ) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection for the commands people run beside the cycle (explain,
    preview, lint, schema): the copy the last finished cycle published (`reader_copy`)
    when there is one, else the database itself. A reader never holds the database's own
    file, so it never makes a cycle's next write fail on its lock, and a running cycle
    never makes a reader wait or fail. Never for the cycle's own steps, which must read
    what they just wrote."""
    path = Path(db_path)
    if not path.exists():
        raise StoreError(f"{path}: no database yet; run `seqguard cycle` first, or pass --db "
                         "with the database's path")
    copy = reader_copy(path)
    try:
        if copy.exists():
            path, con = copy, _open(copy, True, config)
        else:
            con = _open(path, True, config)
    except DatabaseLocked as exc:
        raise StoreError(f"{exc}; no cycle has published a read-only copy yet "
                         f"({copy.name}, written as each cycle finishes)") from exc
    with _session(con, path):
        yield con


def publish_reader_copy(db_path: str | Path) -> Path | None:
    """Copy the database to `reader_copy` for readers while the next cycle writes: all
    written to disk (checkpoint) and copied while this process holds the write lock, then
    swapped in whole, so a reader sees one cycle's state or the previous one's. A database
    that is not a local file (a MotherDuck URL) serves its readers itself: None."""
    path = Path(db_path)
    if not path.is_file():
        return None
    target = reader_copy(path)
    partial = target.with_name(target.name + ".partial")
    with connect(path) as con:
        con.execute("checkpoint")
        shutil.copyfile(path, partial)
    os.replace(partial, target)
    return target


@contextmanager
def _session(con: duckdb.DuckDBPyConnection, path: Path) -> Iterator[None]:
    """Close the connection afterwards; a problem with the file is one StoreError line."""
    try:
        yield
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
        sql.run(con, RULE_MACROS)
    return applied
