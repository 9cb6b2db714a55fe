"""Inputs of the decision step, written where the upstream steps write them.

Tests build a real migrated DuckDB file and insert the rows the model (crm.*), the rules
step (rules.evaluations, rules.matches, rules.scopes) and the sequencer read
(ops.sequences, ops.enrollments) would have written, then call the decision code.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from tasks.db.store import connect
from tasks.rules.engine import RuleRun, normalized_sql
from tasks.rules.matches import apply_changes, result_changes

NOW = datetime(2026, 11, 25, 10, 0)
CRM = "hubspot"


class World:
    """A database and helpers to put decision inputs into it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._con: duckdb.DuckDBPyConnection | None = None

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One connection kept open across helper calls (opening a file costs ~50 ms);
        `release` closes it before the code under test opens the file itself."""
        if self._con is None:
            self._con = duckdb.connect(str(self.path))
        yield self._con

    def release(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def sql(self, query: str, params: list | None = None) -> list[tuple]:
        with self.connect() as con:
            return con.execute(query, params or []).fetchall()

    def people(self, *rows: dict) -> None:
        """crm.people rows; email required, hubspot_id defaults to one derived from it."""
        with self.connect() as con:
            for row in rows:
                row = {"hubspot_id": "hs-" + row["email"], "owner_email": "owner@us.test",
                       **row}
                if "company_domain" not in row and "@" in row["email"]:
                    row["company_domain"] = row["email"].split("@", 1)[1]
                names = ", ".join(row)
                marks = ", ".join("?" for _ in row)
                con.execute(f"insert into crm.people ({names}) values ({marks})",
                            list(row.values()))

    def company(self, domain: str, *aliases: str) -> None:
        with self.connect() as con:
            con.execute("insert into crm.companies (company_domain, aliases) values (?, ?)",
                        [domain, list(aliases)])
            for d in (domain, *aliases):
                con.execute("insert into crm.company_domains values (?, ?)", [d, domain])

    def sequences(self, *pairs: tuple[str, str]) -> None:
        with self.connect() as con:
            for sequence_id, name in pairs:
                con.execute("insert into ops.sequences values (?, ?, ?, ?)",
                            [CRM, sequence_id, name, NOW])

    def enrollment(self, enrollment_id: str, email: str, sequence_id: str,
                   state: str = "active", step: int = 1) -> None:
        with self.connect() as con:
            con.execute(
                "insert into ops.enrollments values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "on conflict (crm, enrollment_id) do update set state = excluded.state, "
                "step = excluded.step",
                [CRM, enrollment_id, sequence_id, email, "hs-" + email, state, step, NOW, NOW,
                 NOW])

    def evaluated(self, run_id: str, now: datetime = NOW) -> None:
        with self.connect() as con:
            con.execute("insert into rules.evaluations (run_id, now, started_at) values (?, ?, ?)",
                        [run_id, now, now])

    def match(self, run_id: str, rule: str, *emails: str, reason: str | None = None,
              pending: bool = False, version: str = "v1") -> None:
        output = pa.table({"email": list(emails),
                           "reason": [reason or f"{rule} matched"] * len(emails)})
        with self.connect() as con:
            con.register("rule_output", output)
            result = con.sql(normalized_sql("select * from rule_output", output.column_names,
                                            "contact")).to_arrow_table()
            run = RuleRun(rule, f"{rule}-{version}", pending, "ok", "contact")
            apply_changes(con, run_id, result_changes(con, [(run, result)]))

    def scope(self, run_id: str, rule: str, *, sequence: str | None = None,
              play: str | None = None, blocks: bool = True, removes: bool = True,
              why: tuple[str, ...] = ("global",), failed: bool = False,
              error: str | None = None) -> None:
        with self.connect() as con:
            con.execute("insert into rules.scopes values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [run_id, rule, rule + "-v1", sequence, play, blocks, removes,
                         list(why), failed])
            if failed:
                con.execute(
                    "insert into rules.runs (run_id, kind, rule, status, error) "
                    "values (?, 'rule', ?, 'error', ?)", [run_id, rule, error or "boom"])

    def global_rule(self, run_id: str, rule: str, *, removes: bool = True,
                    sequences: tuple[str, ...] = ()) -> None:
        """A rule with exclude_from_sequences on: in force for the default ruleset and
        every named sequence."""
        for sequence in (None, *sequences):
            self.scope(run_id, rule, sequence=sequence, removes=removes)

    def outbox(self, *columns: str) -> list[tuple]:
        cols = ", ".join(columns or ("kind", "email", "sequence_id"))
        return self.sql(f"select {cols} from ops.outbox order by all")

    def decisions(self, run_id: str | None = None) -> list[tuple]:
        return self.sql(
            "select kind, email, sequence_id, rule, scope from ops.decisions "
            "where ? is null or run_id = ? order by all", [run_id, run_id])


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database per session; each test starts from a copy (migrating a new
    file takes most of a second)."""
    path = tmp_path_factory.mktemp("template") / "seqguard.duckdb"
    with connect(path):
        pass
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder (sql/exclusions/) for the decision code to read."""
    root = tmp_path / "project"
    (root / "sql" / "exclusions").mkdir(parents=True)
    return root


@pytest.fixture
def world(tmp_path: Path, migrated: Path) -> Iterator[World]:
    path = tmp_path / "seqguard.duckdb"
    shutil.copyfile(migrated, path)
    world = World(path)
    yield world
    world.release()


def write_play(project: Path, name: str, sequence: str, audience: str = "select 1 as x", *,
               trigger: str = "crm_event", delay: str | None = None, **options: object) -> None:
    """A play file and its audience SQL in a project folder."""
    plays = project / "sql" / "plays"
    plays.mkdir(parents=True, exist_ok=True)
    lines = [f"play: {name}", f'sequence: "{sequence}"', f"audience: {name}.sql",
             f"trigger: {trigger}"]
    if delay is not None:
        lines.append(f"delay: {delay}")
    for key, value in options.items():
        text = str(value).lower() if isinstance(value, bool) else value
        lines.append(f"{key}: {text}")
    (plays / f"{name}.yml").write_text("\n".join(lines) + "\n")
    (plays / f"{name}.sql").write_text(audience + "\n")


def queue_item(world: World, play: str, email: str, sequence_id: str, release_at: datetime,
               event_at: datetime | None = None) -> None:
    world.sql("insert into ops.play_queue (play, email, sequence_id, event_at, queued_at, "
              "release_at, status) values (?, ?, ?, ?, ?, ?, 'queued')",
              [play, email, sequence_id, event_at, release_at, release_at])
