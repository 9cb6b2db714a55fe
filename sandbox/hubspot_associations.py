"""HubSpot associations: the v4 per-record list, the v4 and v3 batch reads, and inserts.

hs_associations holds each associated pair once, in whichever direction it was written;
every read serves it from both sides, with the type id HubSpot uses for that direction.

Each record's associations are paged, in the batch reads too: a result carries
`paging.next.after` (an opaque token) when that record has more, and the v4 batch read
takes it back beside the id (`inputs: [{id, after}]`) for the next page:
https://developers.hubspot.com/docs/api-reference/legacy/crm/associations/associate-records/batch/get-associations
("The 'after' field in a returned paging object can be added alongside the 'id' to
retrieve the next page of associations from that objectId ... The 'paging' field will
only be present if there are more pages"); the per-record list: "Limit 500 per call"
(v4 spec, HubSpot/HubSpot-public-api-spec-collection PublicApiSpecs/CRM/Associations/
Rollouts/130902/v4/associations.json); at most 1,000 inputs per batch read, v3 and v4:
https://developers.hubspot.com/changelog/bug-fix-batch-read-limit-for-hubspot-associations-api.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
from starlette.requests import Request
from starlette.responses import Response

from sandbox.hubspot_common import (
    OBJECT_TYPES,
    SINGULAR,
    HubSpotError,
    batch_error,
    batch_inputs,
    cursor_sql,
    int_cursor,
    int_param,
    iso,
    json_response,
    now_ms,
    raw_json,
    resolve_type,
    shape,
    validation_error,
)
from sandbox.hubspot_records import parse_id
from sandbox.state import SandboxState

# association type ids and v3 labels per served direction (HubSpot's defaults)
ASSOCIATION_TYPES: dict[tuple[str, str], tuple[int, str]] = {
    ("contacts", "companies"): (1, "contact_to_company"),
    ("companies", "contacts"): (2, "company_to_contact"),
    ("deals", "contacts"): (3, "deal_to_contact"),
    ("contacts", "deals"): (4, "contact_to_deal"),
    ("deals", "companies"): (5, "deal_to_company"),
    ("companies", "deals"): (6, "company_to_deal"),
    ("companies", "emails"): (185, "company_to_email"),
    ("emails", "companies"): (186, "email_to_company"),
    ("companies", "meetings"): (187, "company_to_meeting_event"),
    ("meetings", "companies"): (188, "meeting_event_to_company"),
    ("contacts", "emails"): (197, "contact_to_email"),
    ("emails", "contacts"): (198, "email_to_contact"),
    ("contacts", "meetings"): (199, "contact_to_meeting_event"),
    ("meetings", "contacts"): (200, "meeting_event_to_contact"),
    ("deals", "emails"): (209, "deal_to_email"),
    ("emails", "deals"): (210, "email_to_deal"),
    ("deals", "meetings"): (211, "deal_to_meeting_event"),
    ("meetings", "deals"): (212, "meeting_event_to_deal"),
}


def association_type(from_type: str, to_type: str) -> tuple[int, str]:
    return ASSOCIATION_TYPES.get(
        (from_type, to_type), (1, f"{SINGULAR[from_type]}_to_{SINGULAR[to_type]}"))


TYPE_BY_ID = {type_id: pair for pair, (type_id, _) in ASSOCIATION_TYPES.items()}
TYPE_BY_ID.update({279: ("contacts", "companies"), 280: ("companies", "contacts"),
                   341: ("deals", "companies"), 342: ("companies", "deals")})
# associated records per page of one record: the v4 list documents 500 per call and the
# v4 batch read pages each input alike; v3 batch reads page at 100
V4_PAGE_MAX = 500
V3_PAGE = 100
BATCH_READ_MAX = 1_000  # inputs per batch read, v3 and v4
ASSOCIATIONS_CURSOR = "associations"
V4_BATCH_READ = shape("BatchInputPublicFetchAssociationsBatchRequest", "inputs")
V4_INPUT = shape("PublicFetchAssociationsBatchRequest", "after", "id")
V3_BATCH_READ = shape("BatchInputPublicObjectId", "inputs")
V3_INPUT = shape("PublicObjectId", "id")


def insert_associations(state: SandboxState, rows: list[dict]) -> int:
    """Store new pairs (set-based; a pair present in either direction is skipped).

    Rows are `{from_type, from_id, to_type, to_id}`; types may be singular or ids ("0-1").
    Returns how many pairs were new.
    """
    if not rows:
        return 0
    try:
        table = pa.table({
            "from_type": pa.array([resolve_type(str(r["from_type"])) for r in rows]),
            "from_id": pa.array([int(r["from_id"]) for r in rows], pa.int64()),
            "to_type": pa.array([resolve_type(str(r["to_type"])) for r in rows]),
            "to_id": pa.array([int(r["to_id"]) for r in rows], pa.int64()),
        })
    except HubSpotError as exc:
        raise ValueError(f"associations: {exc}; use one of {', '.join(OBJECT_TYPES)}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"associations: each row needs from_type, from_id, to_type and "
                         f"integer ids ({exc})") from exc
    now = now_ms(state)
    with state.transaction() as con:
        con.register("hs_assoc_input", table)
        try:
            con.execute(
                """create or replace temp table hs_assoc_new as
                   select distinct i.* from hs_assoc_input i
                   where not exists (select 1 from hs_associations a where
                       (a.from_type = i.from_type and a.from_id = i.from_id
                        and a.to_type = i.to_type and a.to_id = i.to_id)
                    or (a.from_type = i.to_type and a.from_id = i.to_id
                        and a.to_type = i.from_type and a.to_id = i.from_id))""")
        finally:
            con.unregister("hs_assoc_input")
        # a pair given in both directions in one batch is still one pair
        con.execute(
            """delete from hs_assoc_new n where exists (select 1 from hs_assoc_new m
                   where m.from_type = n.to_type and m.from_id = n.to_id
                     and m.to_type = n.from_type and m.to_id = n.from_id
                     and (m.from_type, m.from_id) < (n.from_type, n.from_id))""")
        count = con.execute("select count(*) from hs_assoc_new").fetchone()[0]
        con.execute("""insert into hs_associations (from_type, from_id, to_type, to_id)
                       select from_type, from_id, to_type, to_id from hs_assoc_new""")
        con.execute(
            """insert into sb_events select ?, 'hubspot', 'associations',
                      from_type || ':' || from_id || '->' || to_type || ':' || to_id, 'upsert',
                      to_json(struct_pack(from_type, from_id, to_type, to_id))
               from hs_assoc_new""", [now])
        con.execute("drop table hs_assoc_new")
    return count


def type_spec_sql(from_type: str, to_type: str) -> str:
    """v4 `associationTypes` for the direction served (HubSpot-defined, unlabeled)."""
    type_id, _ = association_type(from_type, to_type)
    return (f"json_array(json_object('category', 'HUBSPOT_DEFINED', 'typeId', {int(type_id)}, "
            "'label', null))")


def v4_item_sql(from_type: str, to_type: str) -> str:
    """A v4 `MultiAssociatedObjectWithLabel` over a `dst` column (`toObjectId` a string,
    as the spec types it)."""
    return (f"json_object('toObjectId', cast(dst as varchar), 'associationTypes', "
            f"{type_spec_sql(from_type, to_type)})")


def v4_list(state: SandboxState, request: Request, body: Any) -> Response:
    """`GET /crm/v4/objects/{from}/{id}/associations/{to}`: one page of one record's."""
    from_type = resolve_type(request.path_params["from"])
    to_type = resolve_type(request.path_params["to"])
    record_id = parse_id(request.path_params["id"])
    limit = min(max(int_param(request, "limit", V4_PAGE_MAX) or V4_PAGE_MAX, 1), V4_PAGE_MAX)
    after = int_cursor(ASSOCIATIONS_CURSOR, request.query_params.get("after"))
    [page] = pages(state, from_type, to_type, [(record_id or 0, after)], limit,
                   v4_item_sql(from_type, to_type)) or [None]
    text = '{"results":' + (page["items"] if page else "[]")
    if page and page["next_after"]:
        text += f',"paging":{{"next":{{"after":"{page["next_after"]}"}}}}'
    return raw_json(text + "}")


def v4_batch_read(state: SandboxState, request: Request, body: Any) -> Response:
    """`POST /crm/v4/associations/{from}/{to}/batch/read`: a page of each input's
    associations, continued by the `after` given beside an input's id."""
    from_type = resolve_type(request.path_params["from"])
    to_type = resolve_type(request.path_params["to"])
    wanted: dict[str, int] = {}
    for item in batch_inputs(body, V4_BATCH_READ, V4_INPUT, BATCH_READ_MAX):
        # an id given twice: its first input counts
        wanted.setdefault(str(item.get("id", "")),
                          int_cursor(ASSOCIATIONS_CURSOR, item.get("after")))
    return batch_read(state, from_type, to_type, wanted, V4_PAGE_MAX,
                      v4_item_sql(from_type, to_type))


def v3_batch_read(state: SandboxState, request: Request, body: Any) -> Response:
    """`POST /crm/v3/associations/{from}/{to}/batch/read`: `to: [{id, type}]`, 100 each."""
    from_type = resolve_type(request.path_params["from"])
    to_type = resolve_type(request.path_params["to"])
    inputs = batch_inputs(body, V3_BATCH_READ, V3_INPUT, BATCH_READ_MAX)
    _, label = association_type(from_type, to_type)
    return batch_read(state, from_type, to_type, {str(i.get("id", "")): 0 for i in inputs},
                      V3_PAGE, f"json_object('id', cast(dst as varchar), 'type', '{label}')")


def batch_read(state: SandboxState, from_type: str, to_type: str, wanted: dict[str, int],
               page_size: int, item_sql: str) -> Response:
    """Both batch reads: one page per input, in one query; an input with none -> a 207
    error (`OBJECT_NOT_FOUND`, its id in `context.fromObjectId`)."""
    started = now_ms(state)
    parsed = {raw: parse_id(raw) for raw in wanted}
    found = pages(state, from_type, to_type,
                  [(i, wanted[raw]) for raw, i in parsed.items() if i], page_size, item_sql)
    results = []
    for page in found:
        text = f'{{"from":{{"id":"{page["src"]}"}},"to":{page["items"]}'
        if page["next_after"]:
            text += f',"paging":{{"next":{{"after":"{page["next_after"]}"}}}}'
        results.append(text + "}")
    head = (f'{{"status":"COMPLETE","results":[{",".join(results)}],'
            f'"startedAt":"{iso(started)}","completedAt":"{iso(now_ms(state))}"')
    served = {page["src"] for page in found}
    missing = [raw for raw, i in parsed.items() if i is None or i not in served]
    if not missing:
        return raw_json(head + "}")
    errors = [batch_error("OBJECT_NOT_FOUND",
                          f"No {SINGULAR[to_type]} is associated with {SINGULAR[from_type]} "
                          f"{raw}.", {"fromObjectId": [raw]}) for raw in missing]
    text = json_response({"numErrors": len(errors), "errors": errors}).body.decode()
    return raw_json(head + "," + text[1:], 207)


def pages(state: SandboxState, from_type: str, to_type: str, wanted: list[tuple[int, int]],
          page_size: int, item_sql: str) -> list[dict]:
    """One page per (record id, position after which to start): `src`, `items` (a JSON
    array text of `item_sql` over `dst`) and `next_after` (the token, or None)."""
    if not wanted:
        return []
    return state.rows(
        f"""with wanted as (
                select src, min(after_dst) as after_dst
                from (select unnest($ids) as src, unnest($afters) as after_dst) group by src
            ),
            pairs as ({association_pairs_sql()}),
            ranked as (
                select p.src, p.dst,
                       row_number() over (partition by p.src order by p.dst) as n
                from pairs p join wanted w on w.src = p.src
                where p.dst > w.after_dst
                qualify n <= $page + 1
            )
            select src,
                   '[' || string_agg({item_sql}, ',' order by dst)
                          filter (where n <= $page) || ']' as items,
                   case when max(n) > $page then
                       {cursor_sql(ASSOCIATIONS_CURSOR, "max(dst) filter (where n <= $page)")}
                   end as next_after
            from ranked group by src order by src""",
        {"from": from_type, "to": to_type, "ids": [w[0] for w in wanted],
         "afters": [w[1] for w in wanted], "page": page_size},
    )


def associate_inline(state: SandboxState, object_type: str, record_id: int,
                     associations: list[dict]) -> None:
    """Create's inline `associations: [{to: {id}, types: [...]}]` (HubSpot infers the type
    of the other side from the association type id; here it must be given or known)."""
    rows = []
    for item in associations:
        to_id = parse_id((item.get("to") or {}).get("id"))
        type_ids = [t.get("associationTypeId") for t in item.get("types") or []]
        pair = next((TYPE_BY_ID[t] for t in type_ids if t in TYPE_BY_ID), None)
        if to_id is None or pair is None or pair[0] != object_type:
            raise validation_error("One or more associations are invalid",
                                   context={"INVALID_OBJECT_IDS": [str(to_id)]})
        rows.append({"from_type": object_type, "from_id": record_id, "to_type": pair[1],
                     "to_id": to_id})
    if rows:
        insert_associations(state, rows)


def associations_json(con: duckdb.DuckDBPyConnection, from_type: str, to_type: str,
                      ids: list[int]) -> dict[int, str]:
    """id -> `[{"id","type"}, ...]` JSON text of the v3 associations of these records."""
    _, label = association_type(from_type, to_type)
    rows = con.execute(
        f"""
        with pairs as ({association_pairs_sql()})
        select src, '[' || string_agg(json_object('id', cast(dst as varchar), 'type', $label), ','
                                      order by dst) || ']'
        from pairs group by src
        """,
        {"from": from_type, "to": to_type, "ids": ids, "label": label},
    ).fetchall()
    return dict(rows)


def association_pairs_sql() -> str:
    """SQL of (src, dst) pairs from $from to $to for source ids $ids, from either stored
    direction (hs_associations holds each pair once)."""
    return """
        select from_id as src, to_id as dst from hs_associations
        where from_type = $from and to_type = $to and from_id in (select unnest($ids))
        union
        select to_id, from_id from hs_associations
        where from_type = $to and to_type = $from and to_id in (select unnest($ids))
    """


def embed_associations(records: dict[int, str], embedded: dict[str, dict[int, str]]) -> None:
    """Add `"associations": {type: {"results": [...]}}` to records that have any."""
    for record_id, text in records.items():
        parts = [f'"{t}":{{"results":{by_id[record_id]}}}'
                 for t, by_id in embedded.items() if record_id in by_id]
        if parts:
            records[record_id] = text[:-1] + ',"associations":{' + ",".join(parts) + "}}"
