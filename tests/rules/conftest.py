"""Fixtures for the rules engine: a real migrated DuckDB file and a project folder.

Tests insert rows into crm.* directly (the seam the model fills) and write rule files
into a temporary project; the built-in rules come from the repo unless a test writes its
own builtin/ folder.
"""

from __future__ import annotations

import shutil
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tasks.db import store

NOW = datetime(2026, 3, 2, 12, 0)

HEADER = {
    "description": "A test rule.",
    "level": "contact",
    "exclude_from_sequences": "true",
    "remove_enrolled": "true",
    "enabled": "true",
}


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database per session; each test copies it (migrating takes ~1 s)."""
    path = tmp_path_factory.mktemp("template") / "seqguard.duckdb"
    with store.connect(path):
        pass
    return path


@pytest.fixture
def db(tmp_path: Path, migrated_template: Path) -> Path:
    """A migrated, empty seqguard database."""
    path = tmp_path / "seqguard.duckdb"
    shutil.copy(migrated_template, path)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder (built-in rules come from the repo)."""
    root = tmp_path / "project"
    (root / "sql" / "exclusions").mkdir(parents=True)
    return root


def write_rule(project: Path, name: str, sql: str, *, folder: str = "", **header: Any) -> Path:
    """A rule file with a full header (override any key; None drops it)."""
    values = {"rule": name, **HEADER, **{k: v for k, v in header.items()}}
    lines = [f"-- {k}: {v}" for k, v in values.items() if v is not None]
    path = project / "sql" / "exclusions" / folder / f"{name}.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n" + textwrap.dedent(sql).strip() + "\n")
    return path


def write(project: Path, relative: str, text: str) -> Path:
    path = project / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def insert(db: Path, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows (dicts) into a crm.* table, set-based through Arrow."""
    if not rows:
        return
    with store.connect(db) as con:
        con.register("batch", pa.Table.from_pylist(rows))
        con.execute(f"insert into {table} by name select * from batch")
        con.unregister("batch")


def query(db: Path, sql: str, params: list | dict | None = None) -> list[tuple]:
    with store.connect(db, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def matched(db: Path, run_id: str, rule: str, pending: bool = False) -> set[str]:
    """The emails a rule matched in a run."""
    return {r[0] for r in query(
        db, "select email from rules.matches where run_id = ? and rule = ? and is_pending = ?",
        [run_id, rule, pending])}


def people(db: Path, *emails: str, **columns: Any) -> None:
    """crm.people rows, company_domain from the email unless given."""
    insert(db, "crm.people", [
        {"email": e, "company_domain": columns.get("company_domain", e.split("@")[1]),
         **{k: v for k, v in columns.items() if k != "company_domain"}}
        for e in emails])
