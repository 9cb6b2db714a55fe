"""No configured secret leaves seqguard, whatever echoes it back (issue 14, item 7).

The sandbox's `echo_authorization` fault quotes the request's Authorization header in
every error body. A cycle whose posts are refused, and one whose token is refused, run
through the CLI and Prefect; the token must appear in none of: the CLI's stdout and
stderr, any text column of any table of the DuckDB file, the run's Prefect logs,
artifacts and state messages. Each test also checks that the echo did arrive (as
`[redacted]`), so it cannot pass by never meeting the token.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import duckdb
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    LogFilter,
    LogFilterFlowRunId,
)

from flows.cli import main
from sandbox.client import SandboxClient
from tasks.core.errors import ConfigError
from tasks.core.redact import REDACTED, redact, remember

NOW = datetime(2026, 11, 2, 9, 0)
# the sandbox accepts only its own token; a refused one is just as secret
WRONG_TOKEN = "pat-na1-5b2c9e3d-hunter2-not-for-your-eyes"
SEQUENCES = [{"id": "9101", "name": "Win back", "steps": [{"after_minutes": 0}]}]


def write_project(root: Path, sandbox: SandboxClient) -> None:
    """seqguard.yml with the token in an environment variable, no built-in rules (so the
    cycle asks HubSpot to enroll people it refuses), and a play enrolling opted-out
    contacts."""
    (root / "sql" / "exclusions" / "builtin").mkdir(parents=True)
    (root / "seqguard.yml").write_text(
        "crms:\n"
        f"  hubspot: {{url: '{sandbox.url}', ca_cert: '{sandbox.cert}', token_env: HS_TOKEN}}\n"
        "sequencer: hubspot\n")
    plays = root / "sql" / "plays"
    plays.mkdir(parents=True)
    (plays / "win_back.yml").write_text(
        "play: win_back\nsequence: Win back\naudience: win_back.sql\ntrigger: schedule\n"
        "sender: owner\nmax_enrollments_per_company: 100\n")
    (plays / "win_back.sql").write_text("select email from crm.people where is_unsubscribed\n")


def opted_out_population(sandbox: SandboxClient, people: int) -> None:
    sandbox.reset(seed=5, contacts=60, now=NOW)
    sandbox.define_sequences(SEQUENCES)
    ids = [str(c["id"]) for c in sandbox.table("hs_contacts")[:people]]
    sandbox.upsert_hubspot(
        "contacts", [{"id": i, "properties": {"hs_email_optout": "true"}} for i in ids])
    sandbox.faults(echo_authorization=True)


def text_cells(db: Path, needle: str) -> list[str]:
    """Every table.column of the database whose text holds `needle`."""
    found = []
    with duckdb.connect(str(db), read_only=True) as con:
        columns = con.execute(
            "select database_name, schema_name, table_name, column_name from duckdb_columns() "
            "where not internal and (data_type like '%VARCHAR%' or data_type like '%JSON%' "
            "or data_type like 'STRUCT%' or data_type like 'MAP%')").fetchall()
        for database, schema, table, column in columns:
            name = f'"{database}"."{schema}"."{table}"'
            hits = con.execute(f'select count(*) from {name} where "{column}"::varchar like ?',
                               [f"%{needle}%"]).fetchall()[0][0]
            if hits:
                found.append(f"{schema}.{table}.{column}")
    return found


def prefect_texts() -> list[str]:
    """Every log message, artifact, and flow and task run state message Prefect holds."""
    async def read() -> list[str]:
        async with get_client() as client:
            runs = await client.read_flow_runs()
            ids = [r.id for r in runs]
            logs = await client.read_logs(log_filter=LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=ids)))
            artifacts = await client.read_artifacts(
                flow_run_filter=FlowRunFilter(id={"any_": ids}),
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="")))
            tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(
                id={"any_": ids}))
        states = [r.state for r in [*runs, *tasks] if r.state]
        return ([log.message for log in logs] + [str(a.data) for a in artifacts]
                + [str(a.description) for a in artifacts]
                + [str(s.message) for s in states] + [str(s.data) for s in states])

    return asyncio.run(read())


def echoed_cycle(sandbox: SandboxClient, root: Path, token: str, monkeypatch,
                 capsys) -> tuple[int, str, Path]:
    """One CLI cycle with the token in HS_TOKEN and every error body echoing it:
    (exit code, stdout + stderr, database)."""
    write_project(root, sandbox)
    monkeypatch.setenv("HS_TOKEN", token)
    db = root / "seqguard.duckdb"
    try:
        code = main(["cycle", "--db", str(db), "--project", str(root),
                     "--now", NOW.isoformat()])
    finally:
        sandbox.faults()
    out, err = capsys.readouterr()
    return code, out + err, db


def test_a_token_echoed_in_refusals_reaches_no_output_table_log_or_artifact(
        prefect_harness, sandbox: SandboxClient, tmp_path: Path, monkeypatch, capsys) -> None:
    opted_out_population(sandbox, 3)
    code, printed, db = echoed_cycle(sandbox, tmp_path, "sandbox-token", monkeypatch, capsys)
    assert code == 0, printed
    assert "sandbox-token" not in printed
    assert text_cells(db, "sandbox-token") == []
    assert not [t for t in prefect_texts() if "sandbox-token" in t]
    # the refusals did echo the token, and it was masked where they were stored
    assert text_cells(db, "was refused; ") == ["ops.outbox.error", "ops.runs.summary"]


def test_a_refused_token_echoed_back_is_not_printed_logged_or_stored(
        prefect_harness, sandbox: SandboxClient, tmp_path: Path, monkeypatch, capsys) -> None:
    opted_out_population(sandbox, 1)
    code, printed, db = echoed_cycle(sandbox, tmp_path, WRONG_TOKEN, monkeypatch, capsys)
    assert code == 2
    assert "HubSpot rejected the token (" in printed and "was refused; " in printed  # echoed
    assert WRONG_TOKEN not in printed
    assert text_cells(db, WRONG_TOKEN) == []
    assert not [t for t in prefect_texts() if WRONG_TOKEN in t]


def test_every_form_an_echo_may_take_is_redacted() -> None:
    secret = remember("s3cr3t/t0ken+with=chars")
    assert redact(f"a {secret} b") == f"a {REDACTED} b"
    assert redact("q=s3cr3t%2Ft0ken%2Bwith%3Dchars") == f"q={REDACTED}"
    assert str(ConfigError(f"HubSpot said: Bearer {secret}")) == f"HubSpot said: Bearer {REDACTED}"
    # a value too short to be a token would blank out ordinary words
    remember("abc")
    assert redact("abc abc") == "abc abc"
