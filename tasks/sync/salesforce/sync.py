"""Sync Salesforce into raw_salesforce.*: full on the first run, incremental after.

Per sObject: describe (field types and picklists), then one SOQL `queryAll` on
`SystemModstamp` from the watermark (minus a small overlap), following `nextRecordsUrl`.
queryAll returns deleted rows too (`IsDeleted = true`): they are merged as tombstones.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from tasks.core.clock import naive_utc, parse_iso
from tasks.core.columns import pulled
from tasks.core.config import Config, SalesforceConfig
from tasks.core.errors import ConfigError
from tasks.db import sql
from tasks.db.arrow import registered
from tasks.db.store import transaction
from tasks.sync import snapshot
from tasks.sync.limiter import configured_limiter
from tasks.sync.salesforce import settings
from tasks.sync.salesforce.client import SalesforceClient
from tasks.sync.salesforce.soql import datetime_literal

CRM = "salesforce"
EPOCH = datetime(1970, 1, 1)


def sync_salesforce(db_path: str | Path, config: Config, now: datetime, full_resync: bool = False,
                    progress: snapshot.Progress | None = None, *,
                    max_concurrency: int = settings.MAX_CONCURRENCY,
                    objects: tuple[str, ...] = settings.OBJECTS) -> snapshot.SyncResult:
    """Bring raw_salesforce.* up to date with the org in `config.salesforce`.

    `progress(sobject, rows_fetched)` is called from worker threads after every page.
    """
    cfg = _salesforce_config(config)
    limiter = configured_limiter(CRM, cfg.rate_limit_per_10s, settings.RATE_LIMIT_PER_10S)
    client = SalesforceClient(cfg, limiter, pool_size=max_concurrency * 2)
    synced_at = naive_utc(now)
    # the first describe checks the session: a wrong one fails before anything is written
    described = {obj: client.describe(obj) for obj in objects}
    wanted, optional = pulled(config.custom_columns, CRM, cfg.fields)
    specs = {obj: object_spec(obj, described[obj], wanted.get(obj, []) + [
        name for name in optional.get(obj, []) if name in _field_names(described[obj])])
        for obj in objects}
    return snapshot.sync_objects(db_path, CRM, specs, client, sync_object, synced_at,
                        full_resync=full_resync, max_concurrency=max_concurrency,
                        progress=progress,
                        before=lambda con: write_picklists(con, described))


def _field_names(describe: dict[str, Any]) -> set[str]:
    return {f["name"] for f in describe.get("fields", [])}


def _salesforce_config(config: Config) -> SalesforceConfig:
    if config.salesforce is None:
        raise ConfigError("crms.salesforce: Salesforce is not configured; add it to seqguard.yml")
    return config.salesforce


# ---- what is pulled --------------------------------------------------------------

def object_spec(sobject: str, describe: dict[str, Any], custom: list[str]) -> snapshot.ObjectSpec:
    """The raw table of one sObject: default + custom fields, typed from describe.

    Default fields the org lacks are left out of the query (their column stays null);
    a custom field it lacks is a configuration error.
    """
    fields = {f["name"]: f for f in describe.get("fields", [])}
    missing = [name for name in custom if name not in fields]
    if missing:
        raise ConfigError(
            f"crms.salesforce.fields.{sobject}: {', '.join(missing)} not a field of "
            f"{sobject}; use the field's API name (custom fields end in __c)"
        )
    names = [n for n in settings.DEFAULT_FIELDS[sobject] if n in fields]
    names = ["Id"] + [n for n in names if n != "Id"]
    names += [n for n in custom if n not in names]
    columns = []
    for name in names:
        kind = fields[name].get("type")
        col_type = settings.COLUMN_TYPES.get(kind, "varchar")
        check = "email" if kind == "email" else None
        columns.append(snapshot.Column(name, col_type, check))
    return snapshot.ObjectSpec(
        crm=CRM, object=sobject, raw_table=f"raw_salesforce.{snapshot.quote(sobject)}",
        staging_table=f"staging.{snapshot.quote(f'salesforce__{sobject}')}",
        columns=tuple(columns), id_column="Id", cursor_column=settings.CURSOR_FIELD,
        tombstone_column=settings.TOMBSTONE_FIELD,
    )


def write_picklists(con: duckdb.DuckDBPyConnection, described: dict[str, dict]) -> None:
    """Replace raw_salesforce.picklist_options with every picklist value described."""
    rows = pa.Table.from_pylist(
        [{"sobject": sobject, "field": f["name"], "label": v.get("label"), "value": v.get("value")}
         for sobject, d in described.items() for f in d.get("fields", [])
         if f.get("type") in settings.PICKLIST_TYPES for v in f.get("picklistValues") or []],
        schema=pa.schema([("sobject", pa.string()), ("field", pa.string()),
                          ("label", pa.string()), ("value", pa.string())]),
    )
    with registered(con, picklist_rows=rows), transaction(con):
        sql.run(con, "sync/salesforce_picklists", sobjects=list(described))


# ---- one object ------------------------------------------------------------------

def build_query(spec: snapshot.ObjectSpec, since: datetime | None, upper: datetime | None) -> str:
    """The SOQL of one run: every field, modified in [since, upper], oldest first.

    Literals are datetimes this module formats itself, never user text.
    """
    fields = ", ".join(c.name for c in spec.columns)
    cursor = settings.CURSOR_FIELD
    where = []
    if since is not None:
        where.append(f"{cursor} >= {datetime_literal(since)}")
    if upper is not None:
        # whole seconds in SOQL: include the whole second the newest change happened in
        end = upper.replace(microsecond=0) + timedelta(seconds=1)
        where.append(f"{cursor} < {datetime_literal(end)}")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {fields} FROM {spec.object}{clause} ORDER BY {cursor} ASC, Id ASC"


def latest_modified(client: SalesforceClient, sobject: str) -> datetime | None:
    """The newest SystemModstamp of the sObject, deleted rows included."""
    cursor = settings.CURSOR_FIELD
    soql = f"SELECT Id, {cursor} FROM {sobject} ORDER BY {cursor} DESC LIMIT 1"
    for body, _ in client.query_all_pages(soql):
        records = orjson.loads(body).get("records") or []
        if records and records[0].get(cursor):
            return parse_iso(str(records[0][cursor]))  # Salesforce writes +0000
    return None


def record_select(spec: snapshot.ObjectSpec) -> sql.Query:
    """SQL unpacking query pages (`records[]`) into one text column per field
    (sql/sync/salesforce_records.sql)."""
    struct = "{" + ",".join(f'"{c.name}":"VARCHAR"' for c in spec.columns) + "}"
    quoted = [snapshot.quote(c.name) for c in spec.columns]
    fields = ", ".join(f"r.{name} as {name}" for name in quoted)
    return sql.query("sync/salesforce_records", struct=struct, fields=fields)


def sync_object(con: duckdb.DuckDBPyConnection, client: SalesforceClient, spec: snapshot.ObjectSpec,
                *, since: datetime | None, run_id: str, synced_at: datetime,
                progress: snapshot.Progress | None = None) -> snapshot.ObjectCounts:
    """Fetch, stage and merge one sObject; `since` None means everything."""
    counts = snapshot.ObjectCounts()
    # the watermark never passes what existed when we started (see snapshot.merge_object)
    upper = latest_modified(client, spec.object)
    stager = snapshot.PageStager(con, spec.staging_table, record_select(spec))
    start = None if since is None else since - settings.OVERLAP
    if upper is not None and (start is None or upper >= start):
        for body, n in client.query_all_pages(build_query(spec, start, upper)):
            stager.add(body)
            counts.fetched += n
            if progress:
                progress(spec.object, counts.fetched)
    stager.flush()
    outcome = snapshot.merge_object(con, spec, run_id=run_id, synced_at=synced_at,
                                    full=since is None, watermark_cap=upper,
                                    empty_watermark=upper or EPOCH)
    return counts.merged_as(outcome)
