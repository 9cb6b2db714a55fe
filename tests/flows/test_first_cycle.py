"""A first cycle as a new user runs it: a database file named after a schema works, and a
cycle that changes nothing says why in the summary a person reads."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from flows.cli.render import render_summary
from flows.cycle import cycle
from tasks.core.errors import ConfigError
from tasks.db import store

NOW = datetime(2026, 11, 2, 9, 0)


def test_a_first_cycle_on_ops_duckdb_says_why_it_decided_nothing(
        prefect_harness, sandbox, tmp_path: Path) -> None:
    sandbox.reset(seed=5, contacts=40, now=NOW)  # no --enrollments: no sequences
    db = tmp_path / "ops.duckdb"  # DuckDB would name its catalog "ops", like the schema
    summary = cycle(now=NOW, db=str(db), project=str(Path(__file__).parents[2]),
                    sandbox_url=sandbox.url, sandbox_cert=str(sandbox.cert))

    assert summary["model"]["rows"]["people"] > 0
    text = render_summary(summary)
    assert ("  nothing to change: the hubspot sequencer has no sequences, so there is no one "
            "to unenroll or enroll (the sandbox has none unless started with --enrollments N)"
            ) in text.splitlines()
    # the published copy is a plain DuckDB file too
    with duckdb.connect(str(store.reader_copy(db)), read_only=True) as con:
        assert con.execute("select count(*) from crm.people").fetchall()[0][0] > 0


def test_a_misspelt_property_stops_the_cycle_before_any_record_is_read(
        prefect_harness, sandbox, tmp_path: Path) -> None:
    sandbox.reset(seed=5, contacts=40, now=NOW)
    project = tmp_path / "project"
    (project / "sql").mkdir(parents=True)
    (project / "seqguard.yml").write_text(
        "columns:\n  people:\n    job_title: {hubspot: job_title, salesforce: Title}\n")
    db = tmp_path / "seqguard.duckdb"
    sandbox.clear_requests()
    with pytest.raises(ConfigError, match=r"^seqguard.yml columns.people.job_title.hubspot: "
                                          "HubSpot contacts has no property 'job_title'; did "
                                          "you mean 'jobtitle'\\?$"):
        cycle(now=NOW, db=str(db), project=str(project), sandbox_url=sandbox.url,
              sandbox_cert=str(sandbox.cert))
    # only the CRMs' property lists were read: no record, no page of the sync
    assert [r["path"].split("?")[0] for r in sandbox.requests()] == [
        "/crm/v3/properties/contacts", "/services/data/v59.0/sobjects/Contact/describe"]
