"""Arrow tables in and out of DuckDB: registered for the length of a block, loaded into
a temp table of a fixed shape, or inserted in one statement (never a row at a time)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb
import pyarrow as pa


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, **tables: pa.Table) -> Iterator[None]:
    """The Arrow tables queryable by their keyword names within the block."""
    for name, table in tables.items():
        con.register(name, table)
    try:
        yield
    finally:
        for name in tables:
            con.unregister(name)


def load_table(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table,
               schema: pa.Schema) -> None:
    """Put an Arrow table in temp table `table` of the expected shape (columns cast,
    missing columns null), so the SQL reading it always sees the same types."""
    columns = [data.column(f.name).cast(f.type) if f.name in data.column_names
               else pa.nulls(data.num_rows, f.type) for f in schema]
    with registered(con, loaded_rows=pa.Table.from_arrays(columns, schema=schema)):
        con.execute(f"create or replace temp table {table} as select * from loaded_rows")


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str],
                rows: Sequence[Sequence]) -> None:
    """Insert rows (each in `columns` order) in one statement through Arrow; executemany
    runs one insert per row, which cost more than the rest of storing a run."""
    if not rows:
        return
    batch = pa.table({name: pa.array(values) for name, values in
                      zip(columns, zip(*rows, strict=True), strict=True)})
    with registered(con, inserted_rows=batch):
        con.execute(f"insert into {table} by name select * from inserted_rows")
