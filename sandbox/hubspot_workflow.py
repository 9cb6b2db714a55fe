"""The HubSpot workflow seqguard's README has the account set up: it unenrolls a contact
whose `seqguard_unenroll_at` was written, some minutes later, or never.

HubSpot has no public unenroll endpoint, so seqguard writes its decision onto the contact
and a workflow (trigger: `seqguard_unenroll_at` is known, re-enrolling when it changes)
acts on it. A workflow runs asynchronously: here each write that sets a new
`seqguard_unenroll_at` queues one run, due `lag_minutes` after the write on the sandbox
clock (`POST /_sandbox/hubspot/workflow {"lag_minutes": N}`, null = the workflow is off
and never runs; default 2). The sequencer's tick carries out the runs that came due, in
time order with the steps it sends, reading the contact's properties as they are then:
`seqguard_unenroll_sequence` (a sequence id or name, `*` = every sequence) and
`seqguard_unenroll_reason`.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

UNENROLL_SEQUENCE = "seqguard_unenroll_sequence"
UNENROLL_REASON = "seqguard_unenroll_reason"
UNENROLL_AT = "seqguard_unenroll_at"  # the trigger property
DEFAULT_LAG_MINUTES = 2


def lag_minutes(con: duckdb.DuckDBPyConnection) -> int | None:
    return con.execute("select lag_minutes from sb_workflow").fetchall()[0][0]


def set_lag_minutes(con: duckdb.DuckDBPyConnection, minutes: int | None) -> None:
    """Turn the workflow on with a lag, or off (None): runs already queued keep their due
    time when it stays on, and are dropped when it is turned off."""
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int)
                                or minutes < 0):
        raise ValueError(f"lag_minutes must be a whole number of minutes >= 0 or null, "
                         f"not {minutes!r}")
    con.execute("update sb_workflow set lag_minutes = ?", [minutes])
    if minutes is None:
        con.execute("delete from sb_workflow_runs")


def has_property(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the contact property exists yet (seqguard creates its own on first use)."""
    return bool(con.execute(
        "select 1 from duckdb_columns() where table_name = 'hs_contacts' and column_name = ?",
        [name]).fetchall())


def stamps(con: duckdb.DuckDBPyConnection, contact_ids: list[int]) -> dict[int, str | None]:
    """The trigger property's current value per contact (None where unset or no column)."""
    if not contact_ids or not has_property(con, UNENROLL_AT):
        return {}
    return dict(con.execute(
        f"select id, {UNENROLL_AT} from hs_contacts where id in (select unnest(?))",
        [contact_ids]).fetchall())


def queue_runs(con: duckdb.DuckDBPyConnection, now: datetime,
               contact_ids: list[int]) -> None:
    """One run per contact whose trigger property was just given a new value."""
    lag = lag_minutes(con)
    if lag is None or not contact_ids:
        return
    con.execute(
        """insert into sb_workflow_runs
           select unnest(?), ?, ? + to_minutes(cast(? as bigint))""",
        [sorted(set(contact_ids)), now, now, lag])


def due_times(con: duckdb.DuckDBPyConnection, until: datetime) -> list[datetime]:
    rows = con.execute(
        "select distinct due_at from sb_workflow_runs where due_at <= ? order by due_at",
        [until]).fetchall()
    return [r[0] for r in rows]


def take_due(con: duckdb.DuckDBPyConnection, until: datetime) -> list[dict]:
    """Remove the runs due by `until` and return what they unenroll: one target per
    contact whose `seqguard_unenroll_sequence` is set, `{contact_id, sequence_id, reason}`
    (sequence_id None = every sequence)."""
    contact_ids = [r[0] for r in con.execute(
        "delete from sb_workflow_runs where due_at <= ? returning contact_id",
        [until]).fetchall()]
    if not contact_ids or not has_property(con, UNENROLL_SEQUENCE):
        return []
    has_reason = has_property(con, UNENROLL_REASON)
    rows = con.execute(
        f"""select id, trim({UNENROLL_SEQUENCE}),
                   {UNENROLL_REASON if has_reason else 'null'}
            from hs_contacts
            where id in (select unnest(?)) and not archived
              and nullif(trim({UNENROLL_SEQUENCE}), '') is not null
            order by id""",
        [sorted(set(contact_ids))]).fetchall()
    return [{"contact_id": str(contact_id), "reason": reason,
             "sequence_id": None if target == "*" else target}
            for contact_id, target, reason in rows]
