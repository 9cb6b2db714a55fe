"""The one place that opens the DuckDB database and applies the schema migrations.

Everything else takes a path and calls `connect`; nothing assumes a local file beyond
this module (a MotherDuck or DuckLake URL would be handled here).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from tasks.errors import StoreError
from tasks.paths import SCHEMA_DIR, SQL_DIR

# the model's shared normalizations (crm.normalize_email, ...): rule output and decisions
# go through them, so every database has them from its first migration on; the model
# step re-creates them each cycle, so they follow the code
MODEL_MACROS = SQL_DIR / "model" / "000_macros.sql"


@contextmanager
def connect(
    db_path: str | Path, read_only: bool = False, config: dict[str, str | bool] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database (migrated, unless read-only) and close it afterwards.

    `config` is passed to DuckDB at open time, e.g. the locked-down settings rules run
    under (`enable_external_access: False`, `lock_configuration: True`).
    """
    path = Path(db_path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config or {})
    except duckdb.IOException as exc:
        raise StoreError(
            f"{path}: cannot open the database ({str(exc).splitlines()[0]}); "
            "another seqguard run may hold it, wait for it to finish"
        ) from exc
    try:
        if not read_only:
            migrate(con)
        yield con
    finally:
        con.close()


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


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str],
                rows: Sequence[Sequence]) -> None:
    """Insert rows (each in `columns` order) in one statement through Arrow; executemany
    runs one insert per row, which cost more than the rest of storing a run."""
    if not rows:
        return
    batch = pa.table({name: pa.array(values) for name, values in
                      zip(columns, zip(*rows, strict=True), strict=True)})
    con.register("inserted_rows", batch)
    try:
        con.execute(f"insert into {table} by name select * from inserted_rows")
    finally:
        con.unregister("inserted_rows")


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every sql/schema/NNN_*.sql not applied yet, in order; returns their names."""
    con.execute(
        "create schema if not exists ops;"
        "create table if not exists ops.migrations (name varchar primary key, applied_at timestamp)"
    )
    done = {r[0] for r in con.execute("select name from ops.migrations").fetchall()}
    applied = []
    for file in sorted(SCHEMA_DIR.glob("[0-9][0-9][0-9]_*.sql")):
        if file.name in done:
            continue
        with transaction(con):
            con.execute(file.read_text())
            con.execute("insert into ops.migrations values (?, now()::timestamp)", [file.name])
        applied.append(file.name)
    if applied:
        con.execute(MODEL_MACROS.read_text())
    return applied
