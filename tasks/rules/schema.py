"""`seqguard schema`: the crm.* tables and columns rules read, from the database itself
(so the list never drifts from what a rule can select): each column's type and where it
comes from (which CRM property or field, or how the model derives it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tasks.db import sql
from tasks.db.store import connect_reader


@dataclass(frozen=True)
class SchemaColumn:
    table: str
    column: str
    type: str
    source: str


def crm_schema(db_path: str | Path) -> list[SchemaColumn]:
    """Every crm.* column, table by table in column order."""
    with connect_reader(db_path) as con:
        return [SchemaColumn(f"crm.{t}", c, kind, source)
                for t, c, kind, source in sql.fetch(con, "rules/schema_columns")]


def schema_text(columns: list[SchemaColumn]) -> str:
    """The columns as one markdown table per crm table."""
    lines: list[str] = []
    for table in dict.fromkeys(c.table for c in columns):
        lines += [f"{table}", "", "| column | type | from |", "| --- | --- | --- |"]
        lines += [f"| {c.column} | {c.type} | {c.source.replace('|', '/')} |"
                  for c in columns if c.table == table]
        lines.append("")
    return "\n".join(lines).rstrip("\n")
