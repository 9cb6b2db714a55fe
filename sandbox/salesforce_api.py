"""The sandbox's Salesforce REST API: SOQL query/queryAll with cursors, sObject describe,
record read/create/update/delete, the updated/deleted replication resources, and the Sales
Engagement invocable actions, shaped so simple-salesforce works against it unmodified.

Records live in the sf_<sobject> tables of sandbox/schema.sql; the cadence sObjects are
read-only views over the sequencer's tables and the actions change them
(sandbox/salesforce_cadences.py), so cadence state is whatever the sequencer says it is.
Shapes follow the REST API Developer Guide
(https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/): query
(resources_query.htm: `totalSize`, `done`, `nextRecordsUrl`, `records` with `attributes`),
describe (resources_sobject_describe.htm), updated/deleted (resources_getupdated.htm,
resources_getdeleted.htm) and the error body of errorcodes.htm. Query results are built
by DuckDB as JSON text (one string per record, in Salesforce's value formats) and kept in a
cursor table, so paging never walks records in Python and a retried `nextRecordsUrl`
returns the same batch.

Errors answer as Salesforce does: a JSON list `[{"message", "errorCode"}]` with its status.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import traceback
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.ids import SALESFORCE_PREFIX, reserve, salesforce_id_sql
from sandbox.salesforce_cadences import (
    ACTIONS,
    MAX_ACTION_INPUTS,
    READ_ONLY_SOBJECTS,
    VIEWS_SQL,
    run_action,
)
from sandbox.soql import (
    DATE,
    DATETIME,
    Relation,
    SObjectSchema,
    SoqlError,
    Translated,
    quote,
    soql_type,
    translate,
)
from sandbox.state import SandboxState

# canonical sObject name -> the table or view that holds it
SOBJECT_TABLES = {
    "User": "sf_user",
    "Account": "sf_account",
    "Contact": "sf_contact",
    "Lead": "sf_lead",
    "Opportunity": "sf_opportunity",
    "OpportunityContactRole": "sf_opportunitycontactrole",
    "Task": "sf_task",
    "Event": "sf_event",
    **READ_ONLY_SOBJECTS,
}
SYSTEM_FIELDS = {"Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"}
# fields Salesforce derives itself, never writable through the API
DERIVED_FIELDS = {"Opportunity": {"IsClosed", "IsWon"}}
# fields a REST create must carry (REQUIRED_FIELD_MISSING otherwise)
REQUIRED_FIELDS = {
    "Contact": ["LastName"],
    "Lead": ["LastName", "Company"],
    "Account": ["Name"],
    "Opportunity": ["Name", "StageName", "CloseDate"],
    "User": ["Username", "LastName", "Email"],
}
# reference targets when sf_fields does not name them
DEFAULT_REFERENCES = {
    "AccountId": ["Account"], "ContactId": ["Contact"], "OpportunityId": ["Opportunity"],
    "OwnerId": ["User"], "WhoId": ["Contact", "Lead"], "WhatId": ["Account", "Opportunity"],
    "ConvertedContactId": ["Contact"], "ActionCadenceId": ["ActionCadence"],
    "TargetId": ["Contact", "Lead"],
}
CLOSED_WON, CLOSED_LOST = "Closed Won", "Closed Lost"

BATCH_SIZE = 2000
KEPT_CURSORS = 20
REPLICATION_WINDOW = timedelta(days=30)
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%g+0000"

_CURSOR_SQL = """
create temp table if not exists sf_query_cursor (
    cursor_id bigint not null, rn bigint not null, record varchar not null
);
"""


class ApiError(Exception):
    """A refusal answered with Salesforce's error body and status."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


# ---- schema -------------------------------------------------------------------------------

def canonical_sobject(name: str) -> str | None:
    """The canonical spelling of an sObject name given in any case, or None."""
    lowered = name.lower()
    return next((s for s in SOBJECT_TABLES if s.lower() == lowered), None)


def ensure_setup(state: SandboxState) -> None:
    """Create the cadence views and the cursor table if this database lacks them.

    Called on every use because `/_sandbox/reset` replaces the database wholesale.
    """
    with state.lock:
        state.con.execute(VIEWS_SQL + _CURSOR_SQL)


@dataclass(frozen=True)
class Column:
    name: str
    duckdb_type: str
    default: str | None


def columns_of(state: SandboxState, table: str) -> list[Column]:
    """The columns of an sf_* table or view, in table order."""
    rows = state.rows(
        """
        select column_name, data_type, column_default from information_schema.columns
        where table_name = ? order by ordinal_position
        """,
        [table],
    )
    return [Column(r["column_name"], r["data_type"], r["column_default"]) for r in rows]


def schemas(state: SandboxState) -> dict[str, SObjectSchema]:
    """Every served sObject, keyed by lower-case name, as the SOQL translator needs it."""
    rows = state.rows(
        """
        select table_name, column_name, data_type from information_schema.columns
        where table_name in (select unnest(?)) order by table_name, ordinal_position
        """,
        [list(SOBJECT_TABLES.values())],
    )
    fields: dict[str, dict[str, tuple[str, str]]] = {t: {} for t in SOBJECT_TABLES.values()}
    for row in rows:
        fields[row["table_name"]][row["column_name"].lower()] = (
            row["column_name"], soql_type(row["data_type"]))
    return {
        name.lower(): SObjectSchema(name, table, fields[table], relationships(state, name))
        for name, table in SOBJECT_TABLES.items()
    }


def relationships(state: SandboxState, sobject: str) -> dict[str, tuple[str, str, str]]:
    """The sObject's parent relationships: a reference field `XId` to one served sObject is
    relationship `X` (as describe's relationshipName says; polymorphic ones are left out)."""
    rows = state.rows(
        "select name, reference_to from sf_fields where lower(sobject) = lower(?) "
        "and type = 'reference' and name like '%Id' and reference_to not like '%,%'",
        [sobject])
    return {r["name"][:-2].lower(): (r["name"][:-2], r["name"], r["reference_to"].lower())
            for r in rows if canonical_sobject(r["reference_to"] or "")}


# ---- records as Salesforce JSON -----------------------------------------------------------

def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def json_value_sql(name: str, kind: str) -> str:
    """A column rendered the way Salesforce's JSON renders its type."""
    column = quote(name)
    if kind == DATETIME:
        return f"strftime({column}, '{DATETIME_FORMAT}')"
    if kind == DATE:
        return f"cast({column} as varchar)"
    return column


def record_object_sql(sobject: str, fields: Iterable[tuple[str, str]], version: str,
                      extra: Iterable[str] = ()) -> str:
    """A record as Salesforce's JSON object, attributes first (JSON, not text); `extra`
    are more `'key', value` pairs."""
    url_prefix = sql_string(f"/services/data/{version}/sobjects/{sobject}/")
    parts = [f"'attributes', json_object('type', {sql_string(sobject)}, 'url', "
             f"{url_prefix} || \"Id\")"]
    parts += [f"{sql_string(name)}, {json_value_sql(name, kind)}" for name, kind in fields]
    return f"json_object({', '.join([*parts, *extra])})"


def record_json_sql(sobject: str, fields: list[tuple[str, str]], version: str,
                    relations: Iterable[Relation] = (), table: str = "") -> str:
    """The projection that renders one record of `table` as Salesforce's JSON text; a
    relationship's fields come as the parent record's object, or null (SOQL and SOSL
    Reference, "Relationship Queries", https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_relationships.htm:
    `"Account": {"attributes": {...}, "Name": ...}`)."""
    parents = [
        f"{sql_string(r.name)}, (select {record_object_sql(r.parent.name, r.fields, version)} "
        f"from {r.parent.table} where \"Id\" = {table}.{quote(r.reference)})"
        for r in relations]
    return f"cast({record_object_sql(sobject, fields, version, parents)} as varchar)"


# ---- query cursors ------------------------------------------------------------------------

class Cursors:
    """Open query results, each kept as JSON rows in `sf_query_cursor` until evicted.

    Like Salesforce, a locator stays valid after its batch was read (so a retry after a
    dropped response works); the oldest cursors are closed beyond KEPT_CURSORS.
    """

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._open: OrderedDict[int, int] = OrderedDict()  # cursor id -> total rows
        self._lock = threading.Lock()

    def open(self, state: SandboxState, translated: Translated, version: str) -> tuple[int, int]:
        """Run the query into a new cursor; returns (cursor id, total rows)."""
        cursor_id = next(self._ids)
        record = record_json_sql(translated.sobject.name, translated.fields, version,
                                 translated.relations, translated.sobject.table)
        projection = f"{cursor_id}, row_number() over (order by {translated.order_sql}), {record}"
        with state.lock:
            state.con.execute(
                f"insert into sf_query_cursor {translated.select_sql(projection)}",
                translated.params,
            )
            total = state.con.execute(
                "select count(*) from sf_query_cursor where cursor_id = ?", [cursor_id]
            ).fetchall()[0][0]
            with self._lock:
                self._open[cursor_id] = total
                while len(self._open) > KEPT_CURSORS:
                    old, _ = self._open.popitem(last=False)
                    state.con.execute("delete from sf_query_cursor where cursor_id = ?", [old])
        return cursor_id, total

    def close(self, state: SandboxState, cursor_id: int) -> None:
        with state.lock, self._lock:
            self._open.pop(cursor_id, None)
            state.con.execute("delete from sf_query_cursor where cursor_id = ?", [cursor_id])

    def total(self, cursor_id: int) -> int | None:
        with self._lock:
            return self._open.get(cursor_id)

    def page(self, state: SandboxState, cursor_id: int, offset: int, size: int) -> str | None:
        """Records offset+1 .. offset+size as a JSON array text; None if the cursor is gone."""
        ensure_setup(state)  # after a reset the cursor table is new (and empty)
        with state.lock:
            count, records = state.con.execute(
                """
                select count(*), coalesce(string_agg(record, ',' order by rn), '')
                from sf_query_cursor where cursor_id = ? and rn > ? and rn <= ?
                """,
                [cursor_id, offset, offset + size],
            ).fetchall()[0]
        if count == 0 and offset < (self.total(cursor_id) or 0):
            return None  # the rows went with a reset of the sandbox
        return "[" + records + "]"


def locator(cursor_id: int, offset: int) -> str:
    return f"01gSANDBOX-{cursor_id}-{offset}"


_LOCATOR_RE = re.compile(r"^01gSANDBOX-(\d+)-(\d+)$")


def query_page(
    state: SandboxState, cursors: Cursors, *, cursor_id: int, offset: int, total: int,
    batch: int, version: str, endpoint: str,
) -> Response:
    """One batch of a cursor in Salesforce's query response shape."""
    records = cursors.page(state, cursor_id, offset, batch)
    if records is None:
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    end = offset + batch
    done = end >= total
    head = f'{{"totalSize":{total},"done":{"true" if done else "false"},'
    if not done:
        head += f'"nextRecordsUrl":"/services/data/{version}/{endpoint}/{locator(cursor_id, end)}",'
    return Response(head + f'"records":{records}}}', media_type="application/json")


def batch_size(request: Request) -> int:
    """The Sforce-Query-Options batchSize (200..2000), else 2,000."""
    options = request.headers.get("sforce-query-options", "")
    match = re.search(r"batchSize\s*=\s*(\d+)", options)
    if not match:
        return BATCH_SIZE
    return max(200, min(BATCH_SIZE, int(match.group(1))))


def run_query(
    state: SandboxState, cursors: Cursors, soql: str, *, include_deleted: bool, batch: int,
    version: str, endpoint: str,
) -> Response:
    """Translate and run a SOQL query; answer its first batch."""
    ensure_setup(state)
    translated = translate(soql, schemas(state), now=state.now(), include_deleted=include_deleted)
    if translated.count_only:
        with state.lock:
            count = state.con.execute(translated.count_sql(), translated.params).fetchall()[0][0]
        return JSONResponse({"totalSize": count, "done": True, "records": []})
    cursor_id, total = cursors.open(state, translated, version)
    response = query_page(state, cursors, cursor_id=cursor_id, offset=0, total=total,
                          batch=batch, version=version, endpoint=endpoint)
    if total <= batch:
        cursors.close(state, cursor_id)  # one batch: no locator was handed out
    return response


# ---- describe -----------------------------------------------------------------------------

_SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "double": "xsd:double",
    "currency": "xsd:double", "percent": "xsd:double", "int": "xsd:int", "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


def derived_field_type(column: Column) -> str:
    """The describe type of a column sf_fields says nothing about."""
    kind = soql_type(column.duckdb_type)
    if column.name == "Id":
        return "id"
    if kind == "string" and column.name in DEFAULT_REFERENCES:
        return "reference"
    return {"string": "string", "boolean": "boolean", "double": "double", "int": "int",
            "date": "date", "datetime": "datetime"}[kind]


def label_of(name: str) -> str:
    """'FirstName' -> 'First Name', the way standard labels read."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)


def describe_fields(state: SandboxState, sobject: str) -> list[dict]:
    """Field descriptions: the table's columns, typed and labelled from sf_fields."""
    table = SOBJECT_TABLES[sobject]
    metadata = {
        r["name"].lower(): r
        for r in state.rows(
            "select name, label, type, picklist, reference_to from sf_fields "
            "where lower(sobject) = lower(?)",
            [sobject],
        )
    }
    read_only = sobject in READ_ONLY_SOBJECTS
    required = set(REQUIRED_FIELDS.get(sobject, []))
    derived = DERIVED_FIELDS.get(sobject, set())
    fields = []
    for column in columns_of(state, table):
        meta = metadata.get(column.name.lower())
        kind = (meta["type"] if meta else derived_field_type(column)).lower()
        picklist = json.loads(meta["picklist"]) if meta and meta["picklist"] else []
        if meta and meta["reference_to"]:
            reference_to = [r.strip() for r in meta["reference_to"].split(",") if r.strip()]
        else:
            reference_to = DEFAULT_REFERENCES.get(column.name, []) if kind == "reference" else []
        writable = not read_only and column.name not in SYSTEM_FIELDS | derived
        fields.append({
            "name": column.name,
            "label": meta["label"] if meta else (
                f"{sobject} ID" if column.name == "Id" else label_of(column.name)),
            "type": kind,
            "soapType": _SOAP_TYPES.get(kind, "xsd:string"),
            "length": 18 if kind in ("id", "reference") else (
                255 if _SOAP_TYPES.get(kind, "xsd:string") == "xsd:string" else 0),
            "nillable": kind != "boolean" and column.name not in SYSTEM_FIELDS | required,
            "custom": False,
            "createable": writable,
            "updateable": writable,
            "defaultedOnCreate": column.name in SYSTEM_FIELDS or kind == "boolean",
            "filterable": True,
            "sortable": kind != "textarea",
            "groupable": kind not in ("double", "currency", "datetime", "textarea"),
            "idLookup": column.name == "Id",
            "externalId": False,
            "unique": False,
            "calculated": False,
            "defaultValue": None,
            "picklistValues": picklist,
            "referenceTo": reference_to,
            "relationshipName": (column.name[:-2] if column.name.endswith("Id") else None)
            if kind == "reference" else None,
        })
    return fields


def sobject_summary(sobject: str, version: str) -> dict:
    """The per-object entry of the global describe (and of `sobjects/{name}/`)."""
    base = f"/services/data/{version}/sobjects/{sobject}"
    writable = sobject not in READ_ONLY_SOBJECTS
    return {
        "name": sobject,
        "label": label_of(sobject),
        "labelPlural": label_of(sobject) + "s",
        "keyPrefix": SALESFORCE_PREFIX.get(sobject),
        "custom": False,
        "queryable": True,
        "retrieveable": True,
        "replicateable": True,
        "searchable": writable,
        "createable": writable,
        "updateable": writable,
        "deletable": writable,
        "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
    }


def describe(state: SandboxState, sobject: str, version: str) -> dict:
    """`GET sobjects/{name}/describe/`: the object and its fields from sf_fields."""
    ensure_setup(state)
    return {
        **sobject_summary(sobject, version),
        "fields": describe_fields(state, sobject),
        "childRelationships": [],
        "recordTypeInfos": [],
    }


# ---- writing records ----------------------------------------------------------------------

def scalar_text(value: Any) -> str | None:
    """A JSON scalar as the text DuckDB casts from (booleans lower case, as JSON has them)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise ValueError(f"a field value must be a scalar, not {json.dumps(value)}")
    return str(value)


def cast_sql(expr: str, duckdb_type: str) -> str:
    """Text -> the column's type, null when it does not parse (checked separately)."""
    kind = soql_type(duckdb_type)
    if kind == DATETIME:
        # offsets (Z, +00:00, +0000) are converted to UTC; a bare time is taken as UTC
        return (f"case when regexp_matches({expr}, '(Z|[+-]\\d\\d:?\\d\\d)$') "
                f"then timezone('UTC', try_cast({expr} as timestamptz)) "
                f"else try_cast({expr} as timestamp) end")
    if kind == "string":
        return expr
    return f"try_cast({expr} as {duckdb_type})"


@dataclass
class WriteResult:
    id: str
    created: bool

    def as_dict(self) -> dict:
        return {"id": self.id, "created": self.created, "success": True, "errors": []}


def upsert_records(state: SandboxState, sobject: str, records: list[dict]) -> list[dict]:
    """Insert or update flat records `{"Id"?, field: value}` of one sObject, set-based.

    A record without Id gets a new one from the sObject's counter; `"IsDeleted": true`
    tombstones it (kept, so queryAll and `deleted/` see it). LastModifiedDate and
    SystemModstamp are the sandbox clock; CreatedDate is the clock on insert unless given.
    Opportunity IsClosed/IsWon follow StageName. Unknown fields raise ValueError.
    Returns one `{"id", "created", "success", "errors"}` per record, in order.
    """
    return [r.as_dict() for r in write_records(state, sobject, records, action="upsert")]


def write_records(
    state: SandboxState, sobject: str, records: list[dict], *, action: str
) -> list[WriteResult]:
    """The set-based write behind upsert_records and the REST create/update/delete."""
    canonical = canonical_sobject(sobject)
    if canonical is None:
        raise ValueError(f"unknown Salesforce sObject {sobject!r}; use one of "
                         f"{', '.join(SOBJECT_TABLES)}")
    if canonical in READ_ONLY_SOBJECTS:
        raise ValueError(f"{canonical} is served from the sequencer; define sequences with "
                         "/_sandbox/sequences and change enrollments through the actions")
    if not records:
        return []
    table = SOBJECT_TABLES[canonical]
    with state.lock:
        columns = {c.name.lower(): c for c in columns_of(state, table)}
        batch, fields = records_to_arrow(canonical, columns, records)
        with state.transaction() as con:
            settle(con)
            con.register("sf_batch", batch)
            try:
                return _merge_batch(state, con, canonical, table, fields, len(records), action)
            finally:
                settle(con)
                con.unregister("sf_batch")


def settle(con: duckdb.DuckDBPyConnection) -> None:
    """Finish any half-read result on the shared connection: DuckDB 2 refuses to register
    or unregister an Arrow table while one is pending (a `fetchone()` leaves one)."""
    con.execute("select 1").fetchall()


def records_to_arrow(
    sobject: str, columns: dict[str, Column], records: list[dict]
) -> tuple[pa.Table, list[Column]]:
    """The records as one Arrow table of text values plus a presence flag per field."""
    names: dict[str, Column] = {}
    for record in records:
        for key in record:
            column = columns.get(key.lower())
            if column is None:
                raise ValueError(f"No such column '{key}' on sobject of type {sobject}")
            if column.name in ("LastModifiedDate", "SystemModstamp"):
                raise ValueError(f"{sobject}.{column.name} is set from the sandbox clock; "
                                 "move the clock with /_sandbox/clock instead")
            names.setdefault(column.name, column)
    fields = [c for name, c in names.items() if name != "Id"]
    normalized = [{columns[k.lower()].name: v for k, v in r.items()} for r in records]
    data: dict[str, pa.Array] = {
        "row_no": pa.array(range(len(records)), pa.int64()),
        "Id": pa.array([scalar_text(r.get("Id")) for r in normalized], pa.string()),
        "payload": pa.array([json.dumps(r, default=str) for r in records], pa.string()),
    }
    for i, column in enumerate(fields):
        data[f"v{i}"] = pa.array([scalar_text(r.get(column.name)) for r in normalized],
                                 pa.string())
        data[f"h{i}"] = pa.array([column.name in r for r in normalized], pa.bool_())
    return pa.table(data), fields


def _merge_batch(
    state: SandboxState, con: duckdb.DuckDBPyConnection, sobject: str, table: str,
    fields: list[Column], count: int, action: str,
) -> list[WriteResult]:
    now = state.now()
    duplicates = con.execute(
        "select Id from sf_batch where Id is not null group by Id having count(*) > 1 limit 1"
    ).fetchall()
    if duplicates:
        raise ValueError(f"{sobject} record {duplicates[0][0]} appears twice in one batch")
    _check_values(con, sobject, fields)
    new_count = con.execute("select count(*) from sf_batch where Id is null").fetchall()[0][0]
    first = reserve(con, sobject, new_count) if new_count else 0
    new_id = salesforce_id_sql(
        sql_string(SALESFORCE_PREFIX[sobject]),
        f"{first} - 1 + row_number() over (partition by Id is null order by row_no)",
    )
    typed = ", ".join(
        f"{cast_sql(f'v{i}', c.duckdb_type)} as v{i}, h{i}" for i, c in enumerate(fields))
    con.execute(
        f"""
        create or replace temp table sf_staged as
        select row_no, payload, coalesce(Id, {new_id}) as Id{', ' + typed if typed else ''}
        from sf_batch
        """
    )
    index = {c.name: i for i, c in enumerate(fields)}
    updates, inserts = [], []
    for name, i in index.items():
        value = f"coalesce(s.v{i}, false)" if name == "IsDeleted" else f"s.v{i}"
        updates.append(f"{quote(name)} = case when s.h{i} then {value} else t.{quote(name)} end")
    # insert: given values, else the sandbox clock for system times, else the column default
    system_defaults = {"IsDeleted": "false", "CreatedDate": "$now", "LastModifiedDate": "$now",
                       "SystemModstamp": "$now"}
    for column in columns_of(state, table):
        if column.name == "Id":
            continue
        default = system_defaults.get(column.name, column.default or "null")
        i = index.get(column.name)
        if i is None:
            inserts.append((column.name, default))
        elif column.name == "IsDeleted":
            inserts.append((column.name, f"coalesce(s.v{i}, false)"))
        else:
            inserts.append((column.name, f"case when s.h{i} then s.v{i} else {default} end"))
    updates += ['"LastModifiedDate" = $now', '"SystemModstamp" = $now']
    merged = con.execute(
        f"""
        merge into {table} t using sf_staged s on t.Id = s.Id
        when matched then update set {', '.join(updates)}
        when not matched then insert ("Id", {', '.join(quote(n) for n, _ in inserts)})
            values (s.Id, {', '.join(e for _, e in inserts)})
        returning merge_action, t.Id
        """,
        {"now": now},
    ).fetchall()
    if sobject == "Opportunity":
        # stage decides closed/won, as the stage metadata does in a real org
        con.execute(
            f"""
            update sf_opportunity set IsClosed = coalesce(StageName in ('{CLOSED_WON}',
                '{CLOSED_LOST}'), false), IsWon = coalesce(StageName = '{CLOSED_WON}', false)
            where Id in (select Id from sf_staged)
            """
        )
    deleted = f"coalesce(s.v{index['IsDeleted']}, false)" if "IsDeleted" in index else "false"
    con.execute(
        f"""
        insert into sb_events
        select $now, 'salesforce', $sobject, s.Id,
               case when {deleted} then 'delete' else $action end, s.payload
        from sf_staged s order by s.row_no
        """,
        {"now": now, "sobject": sobject, "action": action},
    )
    actions = {row[1]: row[0] for row in merged}
    ids = [r[0] for r in con.execute("select Id from sf_staged order by row_no").fetchall()]
    assert len(ids) == count
    return [WriteResult(i, actions.get(i) == "INSERT") for i in ids]


def _check_values(con: duckdb.DuckDBPyConnection, sobject: str, fields: list[Column]) -> None:
    """Refuse the batch if any value does not parse as its column's type, naming it."""
    checks = [
        f"select {sql_string(c.name)} as field, {sql_string(c.duckdb_type)} as type, v{i} as value "
        f"from sf_batch where v{i} is not null and ({cast_sql(f'v{i}', c.duckdb_type)}) is null"
        for i, c in enumerate(fields) if soql_type(c.duckdb_type) != "string"
    ]
    if not checks:
        return
    rows = con.execute(" union all ".join(checks) + " limit 1").fetchall()
    if rows:
        bad = rows[0]
        raise ValueError(f"{sobject}.{bad[0]}: cannot read {bad[2]!r} as {bad[1].lower()}")


# ---- REST handlers ------------------------------------------------------------------------

_VERSION_RE = re.compile(r"^v\d+\.\d+$")
Handler = Callable[[Request], Awaitable[Response]]


def api_errors(handler: Handler) -> Handler:
    """Answer refusals with Salesforce's error body; check the API version in the path."""

    async def wrapped(request: Request) -> Response:
        try:
            if not _VERSION_RE.match(request.path_params.get("version", "")):
                raise not_found()
            return await handler(request)
        except SoqlError as err:
            return JSONResponse(err.body(), status_code=err.status)
        except ApiError as err:
            return JSONResponse([{"message": err.message, "errorCode": err.error_code}],
                                status_code=err.status)
        except Exception as err:  # a sandbox bug: say so in Salesforce's shape, keep the trace
            traceback.print_exc()
            return JSONResponse([{"message": f"An unexpected error occurred: {err!r}",
                                  "errorCode": "UNKNOWN_EXCEPTION"}], status_code=500)

    return wrapped


def sobject_of(request: Request) -> str:
    name = canonical_sobject(request.path_params["sobject"])
    if name is None:
        raise not_found()
    return name


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError as err:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {err.msg} at "
                       f"[line:{err.lineno}, column:{err.colno}]") from None


def parse_replication_time(value: str | None, name: str) -> datetime:
    """A start/end parameter: ISO 8601 with a zone (as simple-salesforce sends), as naive UTC."""
    if not value:
        raise ApiError(400, "MISSING_ARGUMENT", f"Missing required parameter: {name}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ApiError(400, "INVALID_REPLICATION_DATE",
                       f"{name} '{value}' is not an ISO 8601 date and time with a time zone, "
                       "e.g. 2026-01-01T00:00:00+00:00")
    return parsed.astimezone(UTC).replace(tzinfo=None)


def floor_minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def salesforce_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def replication_window(state: SandboxState, request: Request) -> tuple[datetime, datetime]:
    """The [start, end) of an updated/deleted call, minutes only, as Salesforce counts it."""
    start = floor_minute(parse_replication_time(request.query_params.get("start"), "start"))
    end = floor_minute(parse_replication_time(request.query_params.get("end"), "end"))
    now = state.now()
    if start > end:
        raise ApiError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically "
                       "precede endDate")
    if start < floor_minute(now - REPLICATION_WINDOW):
        raise ApiError(400, "INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days "
                       "ago; query on SystemModstamp for older changes")
    return start, min(end, floor_minute(now))


def updated_ids(state: SandboxState, sobject: str, start: datetime, end: datetime) -> list[str]:
    ensure_setup(state)
    rows = state.rows(
        f"""select Id from {SOBJECT_TABLES[sobject]}
            where not IsDeleted and SystemModstamp >= ? and SystemModstamp < ? order by Id""",
        [start, end],
    )
    return [r["Id"] for r in rows]


def deleted_records(
    state: SandboxState, sobject: str, start: datetime, end: datetime
) -> list[dict]:
    ensure_setup(state)
    rows = state.rows(
        f"""select Id as id, strftime(SystemModstamp, '{DATETIME_FORMAT}') as deletedDate
            from {SOBJECT_TABLES[sobject]}
            where IsDeleted and SystemModstamp >= ? and SystemModstamp < ? order by Id""",
        [start, end],
    )
    return rows


def read_record(state: SandboxState, sobject: str, record_id: str, version: str,
                fields: str | None) -> str:
    """One record as Salesforce JSON text (all fields, or the `fields` parameter's)."""
    ensure_setup(state)
    schema = schemas(state)[sobject.lower()]
    if fields:
        wanted = [f.strip() for f in fields.split(",") if f.strip()]
        chosen = []
        for name in wanted:
            found = schema.field(name)
            if found is None:
                raise ApiError(400, "INVALID_FIELD",
                               f"No such column '{name}' on entity '{sobject}'")
            chosen.append(found)
    else:
        chosen = list(schema.fields.values())
    with state.lock:
        rows = state.con.execute(
            f"select {record_json_sql(sobject, chosen, version)} from {schema.table} "
            "where Id = ? and not IsDeleted",
            [record_id],
        ).fetchall()
    if not rows:
        raise not_found()
    return rows[0][0]


def record_state(state: SandboxState, sobject: str, record_id: str) -> bool | None:
    """None if the record does not exist, else whether it is deleted."""
    ensure_setup(state)
    rows = state.rows(f"select IsDeleted from {SOBJECT_TABLES[sobject]} where Id = ?",
                      [record_id])
    return rows[0]["IsDeleted"] if rows else None


def rest_write(state: SandboxState, sobject: str, body: Any, *, record_id: str | None,
               action: str) -> WriteResult:
    """Create or update one record through REST: only writable fields, Salesforce's errors."""
    if sobject in READ_ONLY_SOBJECTS:
        verb = "inserted" if record_id is None else "updated"
        raise ApiError(400, "INVALID_TYPE_FOR_OPERATION",
                       f"entity type cannot be {verb}: {sobject}")
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object of "
                       "field values")
    columns = {c.name.lower(): c.name for c in columns_of(state, SOBJECT_TABLES[sobject])}
    unknown = [k for k in body if k.lower() not in columns and k != "attributes"]
    if unknown:
        raise ApiError(400, "INVALID_FIELD",
                       f"No such column '{unknown[0]}' on sobject of type {sobject}")
    fields = {columns[k.lower()]: v for k, v in body.items() if k != "attributes"}
    locked = sorted(set(fields) & (SYSTEM_FIELDS | DERIVED_FIELDS.get(sobject, set())))
    if locked:
        raise ApiError(400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                       f"Unable to create/update fields: {', '.join(locked)}. Please check the "
                       "security settings of this field and verify that it is read/write for "
                       "your profile or permission set.")
    if record_id is None:
        missing = [f for f in REQUIRED_FIELDS.get(sobject, []) if fields.get(f) in (None, "")]
        if missing:
            raise ApiError(400, "REQUIRED_FIELD_MISSING",
                           f"Required fields are missing: [{', '.join(missing)}]")
    else:
        existing = record_state(state, sobject, record_id)
        if existing is None:
            raise not_found()
        if existing:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        fields["Id"] = record_id
    try:
        return write_records(state, sobject, [fields], action=action)[0]
    except ValueError as err:
        raise ApiError(400, "JSON_PARSER_ERROR", str(err)) from None


# ---- routes -------------------------------------------------------------------------------

def routes(state: SandboxState) -> list[Route]:
    """The Salesforce REST routes, under `/services/data/v{NN.N}/`, over `state`."""
    cursors = Cursors()
    base = "/services/data/{version}"

    async def versions(request: Request) -> Response:
        return JSONResponse([{"label": "Sandbox", "url": "/services/data/v60.0",
                              "version": "60.0"}])

    @api_errors
    async def query(request: Request) -> Response:
        soql = request.query_params.get("q")
        if not soql:
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        endpoint = "queryAll" if request.url.path.rstrip("/").endswith("queryAll") else "query"
        return await run_in_threadpool(
            run_query, state, cursors, soql, include_deleted=endpoint == "queryAll",
            batch=batch_size(request), version=request.path_params["version"],
            endpoint=endpoint)

    @api_errors
    async def query_more(request: Request) -> Response:
        match = _LOCATOR_RE.match(request.path_params["locator"])
        total = cursors.total(int(match.group(1))) if match else None
        if match is None or total is None:
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        endpoint = "queryAll" if "/queryAll/" in request.url.path else "query"
        return await run_in_threadpool(
            query_page, state, cursors, cursor_id=int(match.group(1)),
            offset=int(match.group(2)), total=total, batch=batch_size(request),
            version=request.path_params["version"], endpoint=endpoint)

    @api_errors
    async def global_describe(request: Request) -> Response:
        version = request.path_params["version"]
        return JSONResponse({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
            sobject_summary(s, version) for s in SOBJECT_TABLES]})

    @api_errors
    async def sobject_root(request: Request) -> Response:
        sobject = sobject_of(request)
        version = request.path_params["version"]
        if request.method == "POST":
            body = await json_body(request)
            result = await run_in_threadpool(rest_write, state, sobject, body, record_id=None,
                                             action="upsert")
            return JSONResponse({"id": result.id, "success": True, "errors": []},
                                status_code=201)
        return JSONResponse({"objectDescribe": sobject_summary(sobject, version),
                             "recentItems": []})

    @api_errors
    async def describe_sobject(request: Request) -> Response:
        sobject = sobject_of(request)
        return JSONResponse(await run_in_threadpool(
            describe, state, sobject, request.path_params["version"]))

    @api_errors
    async def updated(request: Request) -> Response:
        sobject = sobject_of(request)
        start, end = replication_window(state, request)
        ids = await run_in_threadpool(updated_ids, state, sobject, start, end)
        return JSONResponse({"ids": ids, "latestDateCovered": salesforce_time(end)})

    @api_errors
    async def deleted(request: Request) -> Response:
        sobject = sobject_of(request)
        start, end = replication_window(state, request)
        rows = await run_in_threadpool(deleted_records, state, sobject, start, end)
        earliest = floor_minute(state.now() - REPLICATION_WINDOW)
        return JSONResponse({"deletedRecords": rows,
                             "earliestDateAvailable": salesforce_time(earliest),
                             "latestDateCovered": salesforce_time(end)})

    @api_errors
    async def record(request: Request) -> Response:
        sobject = sobject_of(request)
        record_id = request.path_params["record_id"]
        if request.method == "GET":
            text = await run_in_threadpool(
                read_record, state, sobject, record_id, request.path_params["version"],
                request.query_params.get("fields"))
            return Response(text, media_type="application/json")
        if request.method == "PATCH":
            body = await json_body(request)
            await run_in_threadpool(rest_write, state, sobject, body, record_id=record_id,
                                    action="patch")
            return Response(status_code=204)
        # DELETE: a tombstone, as the recycle bin keeps it
        if sobject in READ_ONLY_SOBJECTS:
            raise ApiError(400, "INVALID_TYPE_FOR_OPERATION",
                           f"entity type cannot be deleted: {sobject}")
        existing = record_state(state, sobject, record_id)
        if existing is None:
            raise not_found()
        if existing:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        await run_in_threadpool(write_records, state, sobject,
                                [{"Id": record_id, "IsDeleted": True}], action="delete")
        return Response(status_code=204)

    @api_errors
    async def invoke_action(request: Request) -> Response:
        action = next((a for a in ACTIONS if a.lower() == request.path_params["action"].lower()),
                      None)
        if action is None:
            raise not_found()
        body = await json_body(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            raise ApiError(400, "INVALID_INPUT",
                           'The request body must be {"inputs": [...]} with at least one input')
        if len(inputs) > MAX_ACTION_INPUTS:
            raise ApiError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more "
                           f"than {MAX_ACTION_INPUTS} records into this call")
        results = await run_in_threadpool(run_action, state, action, inputs)
        return JSONResponse(results)

    @api_errors
    async def list_actions(request: Request) -> Response:
        version = request.path_params["version"]
        return JSONResponse({"actions": [
            {"name": a, "label": label_of(a[0].upper() + a[1:]), "type": "SALES_CADENCE",
             "url": f"/services/data/{version}/actions/standard/{a}"} for a in ACTIONS]})

    def both(path: str, endpoint: Handler, methods: list[str]) -> list[Route]:
        # simple-salesforce sends some paths with a trailing slash and some without;
        # serving both avoids a redirect that would drop the request body
        return [Route(base + path, endpoint, methods=methods),
                Route(base + path + "/", endpoint, methods=methods)]

    return [
        Route("/services/data", versions, methods=["GET"]),
        Route("/services/data/", versions, methods=["GET"]),
        *both("/query", query, ["GET"]),
        *both("/queryAll", query, ["GET"]),
        *both("/query/{locator}", query_more, ["GET"]),
        *both("/queryAll/{locator}", query_more, ["GET"]),
        *both("/sobjects", global_describe, ["GET"]),
        *both("/sobjects/{sobject}", sobject_root, ["GET", "POST"]),
        *both("/sobjects/{sobject}/describe", describe_sobject, ["GET"]),
        *both("/sobjects/{sobject}/updated", updated, ["GET"]),
        *both("/sobjects/{sobject}/deleted", deleted, ["GET"]),
        *both("/sobjects/{sobject}/{record_id}", record, ["GET", "PATCH", "DELETE"]),
        *both("/actions/standard", list_actions, ["GET"]),
        *both("/actions/standard/{action}", invoke_action, ["POST"]),
    ]
