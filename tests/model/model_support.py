"""Generated sandbox data as raw snapshot tables, without the HTTP sync in between.

The model's end-to-end checks and its benchmark need realistic raw rows (the generator's
mess: domain variants, duplicates, people in both CRMs, converted leads). This copies a
generated `SandboxState` into a seqguard database in the raw contract's shape, table by
table as Arrow, the way a full sync would leave it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from sandbox.generate import generate, seed_metadata
from sandbox.state import SandboxState
from tasks.db.store import connect

HUBSPOT_OBJECTS = ("contacts", "companies", "deals", "emails", "meetings")
SALESFORCE_OBJECTS = {
    "User": "sf_user", "Account": "sf_account", "Contact": "sf_contact", "Lead": "sf_lead",
    "Opportunity": "sf_opportunity", "OpportunityContactRole": "sf_opportunitycontactrole",
    "Task": "sf_task", "Event": "sf_event",
}
# the sandbox's own tables, reshaped into the raw contract (ids are varchar there)
COPIES = {
    **{f"raw_hubspot.{o}": f"select * replace (id::varchar as id), $synced as _synced_at "
                           f"from hs_{o}" for o in HUBSPOT_OBJECTS},
    "raw_hubspot.owners": "select id, email, first_name, last_name from hs_owners",
    "raw_hubspot.associations":
        "select from_type, from_id::varchar as from_id, to_type, to_id::varchar as to_id, "
        "$synced as _synced_at from hs_associations",
    "raw_hubspot.property_options": """
        select object_type, name as property, type, field_type, o.label, o.value,
               o.displayOrder as display_order
        from (select *, unnest(from_json(options,
                '[{"label": "VARCHAR", "value": "VARCHAR", "displayOrder": "INTEGER"}]')) as o
              from hs_properties)""",
    **{f'raw_salesforce."{s}"': f"select *, $synced as _synced_at from {t}"
       for s, t in SALESFORCE_OBJECTS.items()},
    "raw_salesforce.picklist_options": """
        select sobject, name as field, o.label, o.value
        from (select *, unnest(from_json(picklist, '[{"label": "VARCHAR", "value": "VARCHAR"}]'))
                        as o
              from sf_fields)""",
}


def generated_state(contacts: int, seed: int = 7, now: datetime | None = None) -> SandboxState:
    """A sandbox filled by the generator (deterministic per seed and clock)."""
    state = SandboxState()
    state.set_clock(now or datetime(2026, 3, 2, 9, 0))
    seed_metadata(state)
    generate(state, seed=seed, contacts=contacts)
    return state


def copy_to_raw(state: SandboxState, db_path: str | Path) -> dict[str, int]:
    """Replace the raw snapshot tables of `db_path` with the sandbox's records."""
    counts = {}
    synced = state.now()
    with connect(db_path) as con:
        for table, query in COPIES.items():
            with state.lock:
                params = {"synced": synced} if "$synced" in query else {}
                batch = state.con.sql(query, params=params).to_arrow_table()
            counts[table] = _replace(con, table, batch)
    return counts


def _replace(con: duckdb.DuckDBPyConnection, table: str, batch: pa.Table) -> int:
    # only the columns the raw table has (the sandbox grows properties the sync skips)
    have = {d[0].lower() for d in con.execute(f"select * from {table} limit 0").description}
    columns = ", ".join(f'"{c}"' for c in batch.column_names if c.lower() in have)
    con.register("batch", batch)
    try:
        con.execute(f"delete from {table}")
        con.execute(f"insert into {table} by name select {columns} from batch")
    finally:
        con.unregister("batch")
    return int(con.execute(f"select count(*) from {table}").fetchall()[0][0])
