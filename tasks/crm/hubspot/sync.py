"""Sync HubSpot into raw_hubspot.*: full on the first run, incremental after.

Per object: the first run (or `full_resync`) lists every record; later runs search by
last-modified time from the watermark (minus a small overlap), ascending, in time windows
small enough to stay under search's 10,000-result cap. Archived records are listed with
`archived=true` and merged as tombstones. Associations of every fetched record are read
with v4 batch reads and replaced in the same transaction as the record merge. Property
definitions (enumeration options) and owners are refreshed every run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from tasks.core.clock import naive_utc, parse_iso
from tasks.core.config import Config, HubSpotConfig
from tasks.core.errors import ConfigError
from tasks.crm.hubspot import settings
from tasks.crm.hubspot.client import HubSpotClient
from tasks.crm.limiter import configured_limiter
from tasks.crm.snapshot import (
    Column,
    ObjectCounts,
    ObjectSpec,
    PageStager,
    Progress,
    Stopwatch,
    SyncResult,
    drop_staging,
    ensure_raw_table,
    limit_memory,
    merge_object,
    quote,
    read_watermark,
    reset_staging,
)
from tasks.db.store import connect, transaction

CRM = "hubspot"
EPOCH = datetime(1970, 1, 1)
RECORD_COLUMNS = (
    Column("id"), Column("created_at", "timestamp"), Column("updated_at", "timestamp"),
    Column("archived", "boolean"), Column("archived_at", "timestamp"),
)
# HubSpot property type -> the check its string value must pass
TYPE_CHECKS = {"number": "double", "datetime": "timestamp", "date": "date", "bool": "boolean"}


def sync_hubspot(
    db_path: str | Path,
    config: Config,
    now: datetime,
    full_resync: bool = False,
    progress: Progress | None = None,
    *,
    rate_limit_per_10s: int | None = None,
    max_concurrency: int = settings.MAX_CONCURRENCY,
    objects: tuple[str, ...] = settings.OBJECTS,
) -> SyncResult:
    """Bring raw_hubspot.* up to date with the account in `config.hubspot`.

    `progress(object, rows_fetched)` is called from worker threads after every page.
    `rate_limit_per_10s` (requests per rolling 10 s, 0 = none) defaults to the config's
    `rate_limit_per_10s` when it has one, else HubSpot's private-app limit of 100.
    """
    cfg = _hubspot_config(config)
    limiter = configured_limiter(
        CRM,
        rate_limit_per_10s if rate_limit_per_10s is not None else cfg.rate_limit_per_10s,
        settings.RATE_LIMIT_PER_10S,
    )
    client = HubSpotClient(cfg, limiter, pool_size=max_concurrency * 2)
    synced_at = naive_utc(now)
    result = SyncResult(crm=CRM, run_id=uuid.uuid4().hex, full=full_resync)
    clock = Stopwatch()
    # the first call checks the token: a wrong one fails here, before anything is written
    metadata = {obj: client.properties(obj) for obj in objects}
    owners = client.owners()
    specs = {obj: object_spec(obj, metadata[obj], cfg.properties.get(obj, []))
             for obj in objects}
    with connect(db_path) as con:
        limit_memory(con)
        for spec in specs.values():
            ensure_raw_table(con, spec)
            reset_staging(con, spec)
            _reset_association_staging(con, spec.object)
        write_metadata(con, metadata, owners)
        marks = {obj: read_watermark(con, CRM, obj) for obj in objects}
        result.full = full_resync or any(m is None for m in marks.values())
        with ThreadPoolExecutor(max_workers=max_concurrency) as pool:
            futures = {
                obj: pool.submit(
                    sync_object, con.cursor(), client, specs[obj],
                    since=None if full_resync else marks[obj], run_id=result.run_id,
                    synced_at=synced_at, progress=progress,
                )
                for obj in objects
            }
            errors = []
            for obj, future in futures.items():
                try:
                    result.objects[obj] = future.result()
                except Exception as exc:  # noqa: BLE001 - let the others finish first
                    errors.append(exc)
        for spec in specs.values():
            drop_staging(con, spec)
            con.execute(f"drop table if exists {_association_table(spec.object)}")
        if errors:
            raise errors[0]
    result.seconds = clock.seconds()
    return result


def _hubspot_config(config: Config) -> HubSpotConfig:
    if config.hubspot is None:
        raise ConfigError("crms.hubspot: HubSpot is not configured; add it to seqguard.yml")
    return config.hubspot


def _ms(value: datetime) -> int:
    return int(value.replace(tzinfo=UTC).timestamp() * 1000)


# ---- what is pulled --------------------------------------------------------------

def object_spec(obj: str, metadata: list[dict[str, Any]], custom: list[str]) -> ObjectSpec:
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
        Column(name, "varchar",
               "email" if name in emails else TYPE_CHECKS.get(known.get(name, {}).get("type")))
        for name in names
    ]
    return ObjectSpec(
        crm=CRM, object=obj, raw_table=f"raw_hubspot.{quote(obj)}",
        staging_table=f"staging.{quote(f'hubspot__{obj}')}",
        columns=RECORD_COLUMNS + tuple(columns), id_column="id",
        cursor_column="updated_at", tombstone_column="archived",
    )


def properties_of(spec: ObjectSpec) -> list[str]:
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
    objects = list(metadata)
    con.register("option_rows", option_rows)
    con.register("owner_rows", owner_rows)
    with transaction(con):
        con.execute("delete from raw_hubspot.property_options where list_contains(?, object_type)",
                    [objects])
        con.execute("insert into raw_hubspot.property_options by name select * from option_rows")
        con.execute("delete from raw_hubspot.owners")
        con.execute("insert into raw_hubspot.owners by name select * from owner_rows")
    con.unregister("option_rows")
    con.unregister("owner_rows")


# ---- one object ------------------------------------------------------------------

def sync_object(
    con: duckdb.DuckDBPyConnection,
    client: HubSpotClient,
    spec: ObjectSpec,
    *,
    since: datetime | None,
    run_id: str,
    synced_at: datetime,
    progress: Progress | None = None,
) -> ObjectCounts:
    """Fetch, stage and merge one object; `since` None means a full listing."""
    clock = Stopwatch()
    counts = ObjectCounts()
    requests_before = client.requests_made()
    obj = spec.object
    props = properties_of(spec)
    stager = PageStager(con, spec.staging_table, record_select(spec))
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
    archived = PageStager(con, spec.staging_table, record_select(spec, archived_since))
    archived.page_no = stager.page_no  # archived pages come after: their copy wins
    stager.flush()
    for body, n in client.list_pages(obj, props, archived=True):
        archived.add(body)
        counts.fetched += n
    archived.flush()
    stage_associations(con, client, spec)
    outcome = merge_object(
        con, spec, run_id=run_id, synced_at=synced_at, full=since is None,
        watermark_cap=upper, empty_watermark=upper or EPOCH,
        extra=association_statements(spec, synced_at),
    )
    counts.merged, counts.deleted = outcome.merged, outcome.deleted
    counts.quarantined = outcome.quarantined
    counts.requests = client.requests_made() - requests_before
    counts.seconds = clock.seconds()
    if progress:
        progress(obj, counts.fetched)
    return counts


def record_select(spec: ObjectSpec, archived_since: datetime | None = None) -> str:
    """SQL unpacking HubSpot record pages (`results[]`) into one text column per field."""
    props = properties_of(spec)
    struct = ('{"id":"VARCHAR","createdAt":"VARCHAR","updatedAt":"VARCHAR",'
              '"archived":"VARCHAR","archivedAt":"VARCHAR","properties":{'
              + ",".join(f'"{p}":"VARCHAR"' for p in props) + "}}")
    fields = ", ".join(f"r.properties.{quote(p)} as {quote(p)}" for p in props)
    where = ""
    if archived_since is not None:
        # the archived listing has no filter: keep only what was archived since last time
        where = (f"where timezone('UTC', try_cast(r.archivedAt as timestamptz)) >= "
                 f"'{archived_since.isoformat()}'::timestamp or r.archivedAt is null")
    return f"""
        with recs as (
            select page_no, unnest(from_json(body, '{{"results":[{struct}]}}').results) as r
            from pages
        )
        select page_no, r.id as id, r.createdAt as created_at, r.updatedAt as updated_at,
               r.archived as archived, r.archivedAt as archived_at, {fields}
        from recs {where}"""


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
    return f"staging.{quote(f'hubspot__{obj}__associations')}"


def _reset_association_staging(con: duckdb.DuckDBPyConnection, obj: str) -> None:
    con.execute(
        f"create or replace table {_association_table(obj)} "
        "(page_no integer, from_type varchar, from_id varchar, to_type varchar, to_id varchar)"
    )


def association_select(from_type: str, to_type: str) -> str:
    """SQL unpacking v4 batch-read pages into (from, to) rows."""
    return f"""
        with r as (
            select unnest(from_json(body,
                '{{"results":[{{"from":{{"id":"VARCHAR"}},"to":[{{"toObjectId":"VARCHAR"}}]}}]}}'
            ).results) as r, page_no
            from pages
        ), t as (select page_no, r."from".id as from_id, unnest(r."to") as t from r)
        select page_no, '{from_type}' as from_type, from_id, '{to_type}' as to_type,
               t.toObjectId as to_id
        from t where from_id is not null and t.toObjectId is not null"""


def stage_associations(con: duckdb.DuckDBPyConnection, client: HubSpotClient,
                       spec: ObjectSpec) -> None:
    """Read every association of every live record this run fetched, into staging (all
    pages of each record: a deal with 1,200 contacts comes in three reads)."""
    pairs = [(f, t) for f, t in settings.ASSOCIATIONS if f == spec.object]
    if not pairs:
        return
    ids = [r[0] for r in con.execute(
        f"select distinct id from {spec.staging_table} "
        "where nullif(trim(id), '') is not null and coalesce(archived, 'false') <> 'true' "
        "order by id"
    ).fetchall()]
    for from_type, to_type in pairs:
        stager = PageStager(con, _association_table(spec.object),
                            association_select(from_type, to_type))
        for body in client.association_pages(from_type, to_type, ids):
            stager.add(body)
        stager.flush()


def association_statements(spec: ObjectSpec, synced_at: datetime) -> list[tuple[str, list]]:
    """Replace the association rows of every fetched record (run inside the merge)."""
    pairs = [t for f, t in settings.ASSOCIATIONS if f == spec.object]
    if not pairs:
        return []
    staged = _association_table(spec.object)
    return [
        (f"""delete from raw_hubspot.associations
             where from_type = ? and list_contains(?, to_type)
               and from_id in (select id from {spec.staging_table})""",
         [spec.object, pairs]),
        (f"""insert into raw_hubspot.associations
             select distinct from_type, from_id, to_type, to_id, ?::timestamp from {staged}""",
         [synced_at]),
        (f"delete from {staged}", []),
    ]
