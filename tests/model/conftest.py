"""Raw snapshot rows in, crm.* rows out: the model tests' world.

Tests write rows into the raw_hubspot / raw_salesforce tables of a real migrated DuckDB
file (the shape the sync writes), run the model build, and read the crm tables back.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from tasks.core.config import Config
from tasks.db.store import connect
from tasks.model import ModelResult, build_model

NOW = datetime(2026, 3, 2, 9, 0)


class RawWorld:
    """A seqguard database plus helpers that write raw CRM rows and build the model."""

    def __init__(self, root: Path, template: Path) -> None:
        self.db = root / "db.duckdb"
        self.project = root / "project"
        (self.project / "sql").mkdir(parents=True)
        shutil.copyfile(template, self.db)  # already migrated: the raw tables exist
        self._con: duckdb.DuckDBPyConnection | None = None

    def con(self) -> duckdb.DuckDBPyConnection:
        """One connection kept open across helper calls (opening and closing the file
        costs a checkpoint each time); closed before the model build opens the file."""
        if self._con is None:
            self._con = duckdb.connect(str(self.db))
        return self._con

    def release(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def _insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        keys: list[str] = []
        for row in rows:
            keys += [k for k in row if k not in keys]
        batch = pa.Table.from_pylist([{k: row.get(k) for k in keys} for row in rows])
        con = self.con()
        con.register("batch", batch)
        con.execute(f"insert into {table} by name select * from batch")
        con.unregister("batch")

    def hubspot(self, obj: str, *rows: dict[str, Any]) -> None:
        """raw_hubspot.<obj> rows: id required; times default to NOW, archived to false."""
        self._insert(f"raw_hubspot.{obj}", [
            {"created_at": NOW, "updated_at": NOW, "archived": False, "_synced_at": NOW, **r}
            for r in rows])

    def salesforce(self, sobject: str, *rows: dict[str, Any]) -> None:
        """raw_salesforce.<sobject> rows: Id required; IsDeleted defaults to false."""
        self._insert(f'raw_salesforce."{sobject}"', [
            {"IsDeleted": False, "CreatedDate": NOW, "LastModifiedDate": NOW,
             "SystemModstamp": NOW, "_synced_at": NOW, **r} for r in rows])

    def associate(self, *rows: tuple[str, str, str, str]) -> None:
        """raw_hubspot.associations rows (from_type, from_id, to_type, to_id)."""
        self._insert("raw_hubspot.associations", [
            {"from_type": f, "from_id": fi, "to_type": t, "to_id": ti, "_synced_at": NOW}
            for f, fi, t, ti in rows])

    def aliases_csv(self, text: str) -> None:
        (self.project / "sql" / "domain_aliases.csv").write_text(text)

    def build(self, config: Config | None = None) -> ModelResult:
        self.release()
        return build_model(self.db, self.project, config)

    def rows(self, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cursor = self.con().execute(query, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def one(self, query: str, params: list[Any] | None = None) -> dict[str, Any]:
        found = self.rows(query, params)
        assert len(found) == 1, found
        return found[0]

    def sql(self, query: str) -> list[tuple]:
        return self.con().execute(query).fetchall()


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database file that each test copies (migrating costs ~0.3 s)."""
    path = tmp_path_factory.mktemp("model_template") / "db.duckdb"
    with connect(path):
        pass
    return path


@pytest.fixture
def world(tmp_path: Path, migrated_db: Path) -> Iterator[RawWorld]:
    raw = RawWorld(tmp_path, migrated_db)
    yield raw
    raw.release()


@pytest.fixture
def scratch() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory database with the model's macros, for expression-level tests."""
    from tasks.db import sql
    from tasks.model import MACROS

    con = duckdb.connect()
    con.execute("create schema crm")
    sql.run(con, MACROS)
    yield con
    con.close()
