"""Reading and writing HubSpot records in sets: the SQL the object routes and upserts share.

Reads build each record's JSON inside DuckDB (one query per page), so serving a page of
100 costs one query and a string join. Writes turn the records into one Arrow table and
apply it with one UPDATE and one INSERT per object type, whatever the number of records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from sandbox import hubspot_workflow
from sandbox.generate_metadata import SEQUENCE_PROPERTIES
from sandbox.hubspot_common import (
    CLOSED_DEAL_STAGES,
    DEFAULT_PROPERTIES,
    PROPERTY_NAME,
    Catalog,
    HubSpotError,
    catalog_of,
    forget_catalogs,
    iso_sql,
    load_catalog,
    now_ms,
    parse_time,
    parse_time_sql,
    property_errors,
    quote,
    validation_error,
    with_times,
)
from sandbox.ids import reserve
from sandbox.state import SandboxState

ALWAYS_PROPERTIES = ("createdate", "hs_lastmodifieddate", "hs_object_id")
WRITABLE_DERIVED = ("createdate", "hs_createdate")
# properties HubSpot calculates: the deal flags follow the stage; the contact's sequence
# properties follow its enrollments (the sandbox sequencer keeps them)
CALCULATED = {"deals": ("hs_is_closed", "hs_is_closed_won"),
              "contacts": tuple(name for _, name in SEQUENCE_PROPERTIES)}

# --- reads --------------------------------------------------------------------------------


def read_properties(catalog: Catalog, requested: list[str]) -> list[str]:
    """The properties a read returns: those asked for that exist (else the defaults), plus
    the ones HubSpot always adds. Unknown names are left out, as HubSpot does."""
    wanted = requested or list(DEFAULT_PROPERTIES[catalog.object_type])
    always = list(ALWAYS_PROPERTIES)
    if catalog.object_type == "contacts":
        always.append("lastmodifieddate")
    return sorted({p for p in [*wanted, *always] if catalog.get(p) is not None})


def record_json_sql(catalog: Catalog, properties: list[str]) -> str:
    """SQL for one record's API JSON text from a `with_times` row (null properties as null)."""
    pairs = ", ".join(f"'{p}', {catalog.value_sql(p)}" for p in properties)
    return (
        f"json_object('id', cast(id as varchar), 'properties', json_object({pairs}), "
        "'createdAt', hs_c, 'updatedAt', hs_u, 'archived', archived)"
    )


def with_archived_at(json_sql: str) -> str:
    """Archived records also carry `archivedAt`."""
    return (f"case when archived then json_merge_patch({json_sql}, json_object('archivedAt', "
            f"{iso_sql('coalesce(archived_at, updated_at)')})) else {json_sql} end")


def records_by_id(con: duckdb.DuckDBPyConnection, catalog: Catalog, properties: list[str],
                  ids: list[int], archived: bool | None = False) -> dict[int, str]:
    """id -> record JSON text for the given ids (archived: False live, True archived, None any)."""
    if not ids:
        return {}
    json_sql = with_archived_at(record_json_sql(catalog, properties))
    rows = con.execute(
        f"""select id, {json_sql} from {with_times(catalog.table)}
            where id in (select unnest($ids)) and ($archived is null or archived = $archived)""",
        {"ids": ids, "archived": archived},
    ).fetchall()
    return dict(rows)


# --- writes -------------------------------------------------------------------------------


@dataclass
class Write:
    """One record to write: id None = create; properties as HubSpot text (None clears)."""

    id: int | None
    properties: dict[str, str | None]
    archived: bool | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def to_text(value: Any) -> str | None:
    """A property value as HubSpot stores it: text; '' clears; booleans lower case."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def validate_writes(catalog: Catalog, writes: list[Write]) -> None:
    """HubSpot's checks on API writes: unknown, calculated and badly valued properties."""
    problems: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for write in writes:
        for name, value in write.properties.items():
            problem = property_problem(catalog, name, value)
            if problem and (problem["name"], problem["error"]) not in seen:
                seen.add((problem["name"], problem["error"]))
                problems.append(problem)
    if problems:
        raise property_errors(problems)


def read_only(catalog: Catalog, name: str) -> bool:
    """Calculated properties: derived ones (but the create date) and the deal flags."""
    prop = catalog.get(name)
    derived = prop is not None and prop.derived and name not in WRITABLE_DERIVED
    return derived or name in CALCULATED.get(catalog.object_type, ())


def property_problem(catalog: Catalog, name: str, value: str | None) -> dict | None:
    prop = catalog.get(name)
    if prop is None:
        return {"name": name, "error": "PROPERTY_DOESNT_EXIST",
                "message": f'Property "{name}" does not exist'}
    if read_only(catalog, name):
        return {"name": name, "error": "READ_ONLY_VALUE",
                "message": f'"{name}" is a calculated property; its value cannot be set.'}
    if value is None:
        return None
    if prop.type in ("datetime", "date") and parse_time(value) is None:
        return {"name": name, "error": "INVALID_LONG", "message": f"{value} was not a valid long."}
    if prop.type == "enumeration" and prop.options:
        allowed = {o["value"] for o in prop.options}
        given = value.split(";") if prop.multi_select else [value]
        if any(v not in allowed for v in given):
            return {"name": name, "error": "INVALID_OPTION",
                    "message": f"{value} was not one of the allowed options: "
                               f"{sorted(allowed)}"}
    return None


def create_string_properties(con: duckdb.DuckDBPyConnection, object_type: str,
                             names: list[str]) -> None:
    """Add unknown properties as text properties (the control API's fixtures need them)."""
    for name in names:
        if not PROPERTY_NAME.fullmatch(name):
            raise ValueError(f"property name {name!r} for {object_type} must match "
                             f"[a-z][a-z0-9_]*; rename it in the fixture")
        add_property_column(con, object_type, name, name, "string", "text", "sandbox", [])


def add_property_column(con: duckdb.DuckDBPyConnection, object_type: str, name: str,
                        label: str, type_: str, field_type: str, group: str,
                        options: list[dict]) -> None:
    """Insert the definition into hs_properties and add its varchar column."""
    con.execute(
        "insert into hs_properties values (?, ?, ?, ?, ?, ?, ?) on conflict do nothing",
        [object_type, name, label, type_, field_type, group, json.dumps(options)],
    )
    con.execute(f"alter table hs_{object_type} add column if not exists {quote(name)} varchar")


def write_batch_table(writes: list[Write], names: list[str]) -> pa.Table:
    """The writes as columns: value `v_<p>` and was-it-given flag `s_<p>` per property."""
    columns: dict[str, pa.Array] = {
        "ord": pa.array(range(len(writes)), pa.int64()),
        "id": pa.array([w.id for w in writes], pa.int64()),
        "arch": pa.array([w.archived for w in writes], pa.bool_()),
        "payload": pa.array([json.dumps(w.payload, default=str) for w in writes], pa.string()),
    }
    for i, name in enumerate(names):
        columns[f"v_{i}"] = pa.array([w.properties.get(name) for w in writes], pa.string())
        columns[f"s_{i}"] = pa.array([name in w.properties for w in writes], pa.bool_())
    return pa.table(columns)


def stored_value_sql(catalog: Catalog, name: str, raw: str) -> str:
    """SQL for the text stored for a given value: datetimes normalized to HubSpot's ISO."""
    prop = catalog.properties[name]
    if prop.type == "datetime":
        return f"coalesce({iso_sql(parse_time_sql(raw))}, {raw})"
    if prop.type == "date":
        return f"coalesce(strftime({parse_time_sql(raw)}, '%Y-%m-%d'), {raw})"
    if prop.type == "bool":
        return f"lower({raw})"
    return raw


def apply_writes(con: duckdb.DuckDBPyConnection, state: SandboxState, catalog: Catalog,
                 writes: list[Write], action: str) -> list[int]:
    """Apply the writes in one UPDATE and one INSERT; returns the ids in input order.

    Runs inside the caller's transaction. New records get ids from the table's counter.
    """
    new = [w for w in writes if w.id is None]
    if new:
        first = reserve(con, catalog.table, len(new))
        for offset, write in enumerate(new):
            write.id = first + offset
    names = sorted({n for w in writes for n in w.properties})
    con.register("hs_write_input", write_batch_table(writes, names))
    try:
        # the last write of an id wins, like consecutive API calls would
        con.execute(
            """create or replace temp table hs_write_batch as select * from hs_write_input
               qualify row_number() over (partition by id order by ord desc) = 1""")
    finally:
        con.unregister("hs_write_input")
    updates, inserts = column_expressions(catalog, names)
    created = next((f"b.v_{i}" for i, n in enumerate(names) if n in WRITABLE_DERIVED), None)
    params = {"now": now_ms(state)}
    con.execute(
        f"""
        update {catalog.table} as t set {"".join(f"{c} = {e}, " for c, e in updates.items())}
            created_at = {f"coalesce({parse_time_sql(created)}, t.created_at)"
                          if created else "t.created_at"},
            updated_at = $now,
            archived = coalesce(b.arch, t.archived),
            archived_at = case when b.arch then coalesce(t.archived_at, $now)
                               when not b.arch then null else t.archived_at end
        from hs_write_batch b where t.id = b.id
        """,
        params,
    )
    con.execute(
        f"""
        insert into {catalog.table} (id, created_at, updated_at, archived, archived_at
            {"".join(", " + c for c in inserts)})
        select b.id, {f"coalesce({parse_time_sql(created)}, $now)" if created else "$now"},
               $now, coalesce(b.arch, false), case when b.arch then $now end
               {"".join(", " + e for e in inserts.values())}
        from hs_write_batch b
        where not exists (select 1 from {catalog.table} t where t.id = b.id)
        """,
        params,
    )
    con.execute(
        """insert into sb_events select $now, 'hubspot', $object, cast(id as varchar),
                  case when arch then 'delete' else $action end, payload
           from hs_write_batch order by ord""",
        {**params, "object": catalog.object_type, "action": action},
    )
    # ids given explicitly (control upserts) must never be handed out again by the counter
    con.execute(
        """insert into sb_counters select $name, max(id) from hs_write_batch having count(*) > 0
           on conflict (name) do update set value = greatest(sb_counters.value, excluded.value)""",
        {"name": catalog.table},
    )
    con.execute("drop table hs_write_batch")
    return [w.id for w in writes if w.id is not None]


def column_expressions(catalog: Catalog, names: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Per written column: its UPDATE expression (keeps the old value where the write did
    not name the property) and its INSERT expression, over batch `b` and table `t`."""
    updates: dict[str, str] = {}
    inserts: dict[str, str] = {}
    for i, name in enumerate(names):
        if catalog.properties[name].derived:
            continue
        value = stored_value_sql(catalog, name, f"b.v_{i}")
        updates[quote(name)] = f"case when b.s_{i} then {value} else t.{quote(name)} end"
        inserts[quote(name)] = value
    if catalog.object_type == "deals" and "dealstage" in catalog.properties:
        stage = updates.get(quote("dealstage"), "t.dealstage")
        updates.update(closed_flags_sql(stage))
        inserts.update(closed_flags_sql(inserts.get(quote("dealstage"), "null")))
    return updates, inserts


def closed_flags_sql(stage: str) -> dict[str, str]:
    """hs_is_closed / hs_is_closed_won follow dealstage, as HubSpot calculates them."""
    closed = ", ".join(f"'{s}'" for s in CLOSED_DEAL_STAGES)
    return {
        quote("hs_is_closed"): f"case when {stage} in ({closed}) then 'true' else 'false' end",
        quote("hs_is_closed_won"): f"case when {stage} = 'closedwon' then 'true' else 'false' end",
    }


def check_unique_emails(con: duckdb.DuckDBPyConnection, writes: list[Write]) -> None:
    """HubSpot's 409 when a contact write takes an email another contact already has."""
    pairs = [(w.id or 0, w.properties["email"]) for w in writes if w.properties.get("email")]
    if not pairs:
        return
    row = con.execute(
        """select c.id from (select unnest($ids) as id, lower(trim(unnest($emails))) as email) w
           join hs_contacts c on lower(trim(c.email)) = w.email and c.id <> w.id
           and not c.archived limit 1""",
        {"ids": [p[0] for p in pairs], "emails": [p[1] for p in pairs]},
    ).fetchone()
    if row is not None:
        raise HubSpotError(409, f"Contact already exists. Existing ID: {row[0]}", "CONFLICT")


def write_records(state: SandboxState, object_type: str, writes: list[Write], *,
                  action: str, api: bool) -> tuple[Catalog, list[int]]:
    """Validate (API writes) or extend the schema (control writes), then apply in one go.

    A contact write that gives `seqguard_unenroll_at` a new value queues a run of the
    unenroll workflow (sandbox/hubspot_workflow.py), which acts later on the sandbox clock.
    """
    with state.lock:
        with state.transaction() as con:
            catalog = catalog_of(state, object_type)
            if api:
                validate_writes(catalog, writes)
                if object_type == "contacts":
                    check_unique_emails(con, writes)
            else:
                unknown = sorted({n for w in writes for n in w.properties
                                  if catalog.get(n) is None})
                if unknown:
                    forget_catalogs(state)
                    create_string_properties(con, object_type, unknown)
                    catalog = load_catalog(con, object_type)
                for write in writes:
                    for name in [n for n in write.properties if read_only(catalog, n)]:
                        del write.properties[name]  # calculated: HubSpot derives it
            triggering = [w for w in writes if object_type == "contacts"
                          and w.properties.get(hubspot_workflow.UNENROLL_AT)]
            before = hubspot_workflow.stamps(con, [w.id for w in triggering if w.id])
            ids = apply_writes(con, state, catalog, writes, action)
            after = hubspot_workflow.stamps(con, [w.id for w in triggering if w.id])
            hubspot_workflow.queue_runs(con, state.now(), [
                i for i, stamp in after.items() if stamp and stamp != before.get(i)])
    return catalog, ids


def ensure_ids_exist(con: duckdb.DuckDBPyConnection, catalog: Catalog,
                     ids: list[int]) -> set[int]:
    """Which of these ids are live records (archived ones count as missing)."""
    rows = con.execute(
        f"select id from {catalog.table} where id in (select unnest(?)) and not archived",
        [ids]).fetchall()
    return {r[0] for r in rows}


def parse_id(text: Any) -> int | None:
    """A record id from a path or input (HubSpot ids are positive integers)."""
    try:
        value = int(str(text).strip())
    except ValueError:
        return None
    return value if value > 0 else None


def require_properties_object(body: Any) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("properties", {}), dict):
        raise validation_error("Invalid input JSON: properties must be an object")
    return body
