"""Sync HubSpot into raw_hubspot.*: full on the first run, incremental after.

Per object: the first run (or `full_resync`) lists every record; later runs search by
last-modified time from the watermark (minus a small overlap), ascending, in time windows
small enough to stay under search's 10,000-result cap. Archived records are listed with
`archived=true` and merged as tombstones. Associations of every fetched record are read
with v4 batch reads and replaced in the same transaction as the record merge. Property
definitions (enumeration options) and owners are refreshed every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from tasks.core.clock import naive_utc, parse_iso
from tasks.core.columns import pulled
from tasks.core.config import Config, HubSpotConfig
from tasks.core.errors import ConfigError
from tasks.db import sql
from tasks.db.arrow import registered
from tasks.db.store import transaction
from tasks.sync import snapshot
from tasks.sync.hubspot import settings
from tasks.sync.hubspot.client import HubSpotClient
from tasks.sync.limiter import configured_limiter

CRM = "hubspot"
EPOCH = datetime(1970, 1, 1)
RECORD_COLUMNS = tuple(snapshot.Column(name, kind) for name, kind in (
    ("id", "varchar"), ("created_at", "timestamp"), ("updated_at", "timestamp"),
    ("archived", "boolean"), ("archived_at", "timestamp"),
))
# HubSpot property type -> the check its string value must pass
TYPE_CHECKS = {"number": "double", "datetime": "timestamp", "date": "date", "bool": "boolean"}


def sync_hubspot(db_path: str | Path, config: Config, now: datetime, full_resync: bool = False,
                 progress: snapshot.Progress | None = None, *,
                 max_concurrency: int = settings.MAX_CONCURRENCY,
                 objects: tuple[str, ...] = settings.OBJECTS) -> snapshot.SyncResult:
    """Bring raw_hubspot.* up to date with the account in `config.hubspot`.

    `progress(object, rows_fetched)` is called from worker threads after every page.
    Requests per rolling 10 s: the config's `rate_limit_per_10s` (0 = none), else
    HubSpot's private-app limit of 100.
    """
    cfg = _hubspot_config(config)
    limiter = configured_limiter(CRM, cfg.rate_limit_per_10s, settings.RATE_LIMIT_PER_10S)
    client = HubSpotClient(cfg, limiter, pool_size=max_concurrency * 2)
    synced_at = naive_utc(now)
    # the first call checks the token: a wrong one fails here, before anything is written
    metadata = {obj: client.properties(obj) for obj in objects}
    owners = client.owners()
    wanted, _ = pulled(config.custom_columns, CRM, cfg.properties)
    specs = {obj: object_spec(obj, metadata[obj], wanted.get(obj, [])) for obj in objects}

    def before(con: duckdb.DuckDBPyConnection) -> None:
        for obj in objects:
            _reset_association_staging(con, obj)
        write_metadata(con, metadata, owners)

    def after(con: duckdb.DuckDBPyConnection) -> None:
        for obj in objects:
            con.execute(f"drop table if exists {_association_table(obj)}")

    return snapshot.sync_objects(db_path, CRM, specs, client, sync_object, synced_at,
                        full_resync=full_resync, max_concurrency=max_concurrency,
                        progress=progress, before=before, after=after)


def _hubspot_config(config: Config) -> HubSpotConfig:
    if config.hubspot is None:
        raise ConfigError("crms.hubspot: HubSpot is not configured; add it to seqguard.yml")
    return config.hubspot


def _ms(value: datetime) -> int:
    return int(value.replace(tzinfo=UTC).timestamp() * 1000)


# ---- what is pulled --------------------------------------------------------------

def object_spec(obj: str, metadata: list[dict[str, Any]], custom: list[str]) -> snapshot.ObjectSpec:
    """The raw table of one object: record columns, then default + custom properties."""
    known = {p["name"]: p for p in metadata}
    missing = [name for name in custom if name not in known]
    if missing:
        raise ConfigError(
            f"crms.hubspot.properties.{obj}: {', '.join(missing)} not a HubSpot {obj} "
            "property; use the property's internal name"
        )
    names = list(settings.DEFAULT_PROPERTIES[obj])
    names += [n for n in custom if n not in names]
    if obj == "contacts":
        names += sorted(n for n in known
                        if n.startswith(settings.SEQGUARD_PROPERTY_PREFIX) and n not in names)
    emails = settings.EMAIL_PROPERTIES.get(obj, ())
    columns = [
        snapshot.Column(name, "varchar",
               "email" if name in emails else TYPE_CHECKS.get(known.get(name, {}).get("type")),
               backfill=not name.startswith(settings.SEQGUARD_PROPERTY_PREFIX))
        for name in names
    ]
    return snapshot.ObjectSpec(
        crm=CRM, object=obj, raw_table=f"raw_hubspot.{snapshot.quote(obj)}",
        staging_table=f"staging.{snapshot.quote(f'hubspot__{obj}')}",
        columns=RECORD_COLUMNS + tuple(columns), id_column="id",
        cursor_column="updated_at", tombstone_column="archived",
    )


def properties_of(spec: snapshot.ObjectSpec) -> list[str]:
    return [c.name for c in spec.columns[len(RECORD_COLUMNS):]]


def write_metadata(con: duckdb.DuckDBPyConnection, metadata: dict[str, list[dict]],
                   owners: list[dict]) -> None:
    """Replace property_options (every enumeration option) and owners, in one transaction."""
    options = [
        {"object_type": obj, "property": p["name"], "type": p.get("type"),
         "field_type": p.get("field_type"), "label": o.get("label"), "value": o.get("value"),
         "display_order": o.get("display_order")}
        for obj, props in metadata.items() for p in props for o in (p.get("options") or [])
    ]
    option_rows = pa.Table.from_pylist(options, schema=pa.schema([
        ("object_type", pa.string()), ("property", pa.string()), ("type", pa.string()),
        ("field_type", pa.string()), ("label", pa.string()), ("value", pa.string()),
        ("display_order", pa.int32()),
    ]))
    owner_rows = pa.Table.from_pylist(
        [{"id": str(o.get("id")), "email": o.get("email"), "first_name": o.get("first_name"),
          "last_name": o.get("last_name")} for o in owners],
        schema=pa.schema([("id", pa.string()), ("email", pa.string()),
                          ("first_name", pa.string()), ("last_name", pa.string())]),
    )
    with registered(con, option_rows=option_rows, owner_rows=owner_rows), transaction(con):
        sql.run(con, "sync/hubspot_metadata", objects=list(metadata))


# ---- one object ------------------------------------------------------------------

def sync_object(con: duckdb.DuckDBPyConnection, client: HubSpotClient, spec: snapshot.ObjectSpec,
                *, since: datetime | None, run_id: str, synced_at: datetime,
                progress: snapshot.Progress | None = None) -> snapshot.ObjectCounts:
    """Fetch, stage and merge one object; `since` None means a full listing."""
    counts = snapshot.ObjectCounts()
    obj = spec.object
    props = properties_of(spec)
    stager = record_stager(con, spec)
    # changes after `upper` belong to the next run: the watermark never passes it, so a
    # record modified while we page is fetched again next time rather than lost
    upper = latest_modified(client, obj, props)
    if since is None:
        pages = client.list_pages(obj, props)
    else:
        pages = search_pages(client, obj, props, since - settings.OVERLAP, upper)
    for body, n in pages:
        stager.add(body)
        counts.fetched += n
        if progress:
            progress(obj, counts.fetched)
    archived_since = None if since is None else since - settings.OVERLAP
    archived = record_stager(con, spec, archived_since)
    archived.page_no = stager.page_no  # archived pages come after: their copy wins
    stager.flush()
    for body, n in client.list_pages(obj, props, archived=True):
        archived.add(body)
        counts.fetched += n
    archived.flush()
    stage_associations(con, client, spec)
    outcome = snapshot.merge_object(
        con, spec, run_id=run_id, synced_at=synced_at, full=since is None,
        watermark_cap=upper, empty_watermark=upper or EPOCH,
        extra=association_statements(spec, synced_at),
    )
    return counts.merged_as(outcome)


def record_stager(con: duckdb.DuckDBPyConnection, spec: snapshot.ObjectSpec,
                  archived_since: datetime | None = None,
                  pages_per_append: int = snapshot.PAGES_PER_APPEND) -> snapshot.PageStager:
    """A stager of record pages into the object's staging table; with `archived_since`,
    of the archived listing's records archived since then (it has no filter of its own)."""
    return snapshot.PageStager(con, spec.staging_table, record_select(spec),
                      {"archived_since": archived_since}, pages_per_append)


def record_select(spec: snapshot.ObjectSpec) -> sql.Query:
    """SQL unpacking HubSpot record pages (`results[]`) into one text column per field
    (sql/sync/hubspot_records.sql)."""
    props = properties_of(spec)
    struct = ('{"id":"VARCHAR","createdAt":"VARCHAR","updatedAt":"VARCHAR",'
              '"archived":"VARCHAR","archivedAt":"VARCHAR","properties":{'
              + ",".join(f'"{p}":"VARCHAR"' for p in props) + "}}")
    fields = ", ".join(f"r.properties.{snapshot.quote(p)} as {snapshot.quote(p)}" for p in props)
    return sql.query("sync/hubspot_records", struct=struct, fields=fields)


def latest_modified(client: HubSpotClient, obj: str, props: list[str]) -> datetime | None:
    """The newest last-modified time in the account (one search, newest first)."""
    cursor = settings.CURSOR_PROPERTY.get(obj, settings.DEFAULT_CURSOR_PROPERTY)
    _, page = client.search(obj, {
        "filterGroups": [], "properties": [cursor], "limit": 1,
        "sorts": [{"propertyName": cursor, "direction": "DESCENDING"}],
    })
    results = page.get("results") or []
    if not results:
        return None
    value = results[0].get("updatedAt") or (results[0].get("properties") or {}).get(cursor)
    try:
        return parse_iso(str(value))
    except ValueError:
        return None


def search_pages(client: HubSpotClient, obj: str, props: list[str], since: datetime,
                 upper: datetime | None) -> Iterator[tuple[str, int]]:
    """Every record modified in [since, upper], oldest first, as page bodies.

    A window whose total passes the search cap is split in two and each half searched
    on its own, so no query ever needs to page past 10,000 results. A single millisecond
    that alone holds more (a bulk update) is read by id ranges instead.
    """
    if upper is None:
        return
    cursor = settings.CURSOR_PROPERTY.get(obj, settings.DEFAULT_CURSOR_PROPERTY)
    windows = [(_ms(since), _ms(upper) + 1)]
    while windows:
        lo, hi = windows.pop(0)
        request = _window_request(cursor, lo, hi, props)
        body, page = client.search(obj, request)
        if int(page.get("total") or 0) > settings.SEARCH_RESULT_CAP:
            if hi - lo <= 1:
                yield from dense_window_pages(client, obj, props, lo, hi)
                continue
            mid = (lo + hi) // 2
            windows[0:0] = [(lo, mid), (mid, hi)]
            continue
        yield from _follow(client, obj, request, body, page)


def dense_window_pages(client: HubSpotClient, obj: str, props: list[str], lo: int,
                       hi: int) -> Iterator[tuple[str, int]]:
    """A time window too dense to split, read in ascending id ranges of < 10,000 each.

    Each query asks for ids above the last one seen, sorted by id, and is followed only
    until the cap; the next query starts after the last id it returned.
    """
    cursor = settings.CURSOR_PROPERTY.get(obj, settings.DEFAULT_CURSOR_PROPERTY)
    last_id = 0
    while True:
        request = _window_request(cursor, lo, hi, props, sort="hs_object_id")
        request["filterGroups"][0]["filters"].append(
            {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)})
        first, page = client.search(obj, request)
        seen = 0
        for body, n in _follow(client, obj, request, first, page, stop_at_cap=True):
            yield body, n
            seen += n
            ids = [int(r["id"]) for r in orjson.loads(body).get("results") or []
                   if str(r.get("id", "")).isdigit()]
            last_id = max([last_id, *ids])
        if seen < settings.SEARCH_RESULT_CAP:  # the id ranges ran out before the cap
            return


def _window_request(cursor: str, lo: int, hi: int, props: list[str],
                    sort: str | None = None) -> dict[str, Any]:
    return {
        "filterGroups": [{"filters": [
            {"propertyName": cursor, "operator": "GTE", "value": str(lo)},
            {"propertyName": cursor, "operator": "LT", "value": str(hi)},
        ]}],
        "sorts": [{"propertyName": sort or cursor, "direction": "ASCENDING"}],
        "properties": props, "limit": settings.SEARCH_PAGE_SIZE,
    }


def _follow(client: HubSpotClient, obj: str, request: dict[str, Any], body: str, page: dict,
            stop_at_cap: bool = False) -> Iterator[tuple[str, int]]:
    """Yield a search's first page and follow `paging.next.after` (up to the cap).

    The cursor is handed back as it came (HubSpot documents it as an opaque token): the
    cap is judged by the results this query has returned so far, never by the cursor.
    """
    seen = 0
    while True:
        returned = len(page.get("results") or [])
        yield body, returned
        seen += returned
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return
        if stop_at_cap and seen + settings.SEARCH_PAGE_SIZE > settings.SEARCH_RESULT_CAP:
            return
        request["after"] = after
        body, page = client.search(obj, request)


# ---- associations ----------------------------------------------------------------

def _association_table(obj: str) -> str:
    return f"staging.{snapshot.quote(f'hubspot__{obj}__associations')}"


def _reset_association_staging(con: duckdb.DuckDBPyConnection, obj: str) -> None:
    sql.run(con, sql.query("sync/hubspot_association_staging",
                               associations=_association_table(obj)))


def stage_associations(con: duckdb.DuckDBPyConnection, client: HubSpotClient,
                       spec: snapshot.ObjectSpec) -> None:
    """Read every association of every live record this run fetched, into staging (all
    pages of each record: a deal with 1,200 contacts comes in three reads)."""
    pairs = [(f, t) for f, t in settings.ASSOCIATIONS if f == spec.object]
    if not pairs:
        return
    ids = [r[0] for r in sql.fetch(con, sql.query("sync/hubspot_live_ids",
                                                  staging=spec.staging_table))]
    for from_type, to_type in pairs:
        stager = snapshot.PageStager(con, _association_table(spec.object),
                            sql.query("sync/hubspot_associations"),
                            {"from_type": from_type, "to_type": to_type})
        for body in client.association_pages(from_type, to_type, ids):
            stager.add(body)
        stager.flush()


def association_statements(spec: snapshot.ObjectSpec, synced_at: datetime
                           ) -> list[tuple[sql.Query, dict[str, Any]]]:
    """Replace the association rows of every fetched record (run inside the merge)."""
    pairs = [t for f, t in settings.ASSOCIATIONS if f == spec.object]
    if not pairs:
        return []
    staged = _association_table(spec.object)
    return [
        (sql.query("sync/hubspot_forget_associations", staging=spec.staging_table),
         {"from_type": spec.object, "to_types": pairs}),
        (sql.query("sync/hubspot_store_associations", associations=staged),
         {"synced_at": synced_at}),
        (sql.Query("sync/empty_associations", f"delete from {staged}"), {}),
    ]
