"""HubSpot CRM v3 object routes: list, get, create, update, archive and the batch forms.

Every handler is a plain function of (state, request, body); `routes` in hubspot_api
binds them to paths. Request and response shapes are those of the CRM v3 object specs
that HubSpot's API reference is built from (HubSpot/HubSpot-public-api-spec-collection,
PublicApiSpecs/CRM/Contacts/Rollouts/424/v3/contacts.json and its Companies, Deals,
Emails, Meetings siblings): bodies with undocumented fields are refused, and a batch
where some ids are missing answers 207 with `StandardError` entries
(https://developers.hubspot.com/docs/api-reference/error-handling).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.hubspot_associations import associate_inline, associations_json, embed_associations
from sandbox.hubspot_common import (
    SINGULAR,
    Catalog,
    batch_error,
    batch_inputs,
    bool_param,
    catalog_of,
    cursor,
    int_cursor,
    int_param,
    iso,
    json_response,
    not_found,
    now_ms,
    quote,
    raw_json,
    requested_properties,
    resolve_type,
    shape,
    validation_error,
    with_times,
)
from sandbox.hubspot_records import (
    Write,
    ensure_ids_exist,
    parse_id,
    read_properties,
    record_json_sql,
    records_by_id,
    require_properties_object,
    to_text,
    with_archived_at,
    write_records,
)
from sandbox.state import SandboxState

LIST_LIMIT_MAX = 100
LIST_CURSOR = "objects"

# the request bodies the reference documents (components.schemas of the v3 object specs)
OBJECT_INPUT = shape("SimplePublicObjectInput", "properties")
CREATE_INPUT = shape("SimplePublicObjectInputForCreate", "associations", "properties")
BATCH_READ = shape("BatchReadInputSimplePublicObjectId", "idProperty", "inputs", "properties",
                   "propertiesWithHistory")
OBJECT_ID = shape("SimplePublicObjectId", "id")
BATCH_UPDATE = shape("BatchInputSimplePublicObjectBatchInput", "inputs")
UPDATE_ITEM = shape("SimplePublicObjectBatchInput", "id", "idProperty", "objectWriteTraceId",
                    "properties")
BATCH_CREATE = shape("BatchInputSimplePublicObjectBatchInputForCreate", "inputs")
CREATE_ITEM = shape("SimplePublicObjectBatchInputForCreate", "associations",
                    "objectWriteTraceId", "properties")
BATCH_ARCHIVE = shape("BatchInputSimplePublicObjectId", "inputs")


def list_objects(state: SandboxState, request: Request, body: Any) -> Response:
    """`GET /crm/v3/objects/{type}`: one page by id cursor, built as JSON text in DuckDB."""
    object_type = resolve_type(request.path_params["type"])
    limit = min(max(int_param(request, "limit", 10) or 10, 1), LIST_LIMIT_MAX)
    after = int_cursor(LIST_CURSOR, request.query_params.get("after"))
    archived = bool_param(request, "archived")
    to_types = [resolve_type(t) for t in requested_properties(request, "associations")]
    with state.lock:
        catalog = catalog_of(state, object_type)
        properties = read_properties(catalog, requested_properties(request))
        json_sql = record_json_sql(catalog, properties)
        if archived:
            json_sql = with_archived_at(json_sql)
        # limit + 1 rows tell whether there is a next page without a count
        page_rows = (f"(select * from {catalog.table} where archived = ? and id > ? "
                     "order by id limit ?)")
        rows = state.con.execute(
            f"select id, {json_sql} from {with_times(page_rows)} order by id",
            [archived, after, limit + 1],
        ).fetchall()
        page = dict(rows[:limit])
        for to_type in to_types:
            embed_associations(page, {to_type: associations_json(
                state.con, object_type, to_type, list(page))})
    body_text = '{"results":[' + ",".join(page.values()) + "]"
    if len(rows) > limit:
        next_after = cursor(LIST_CURSOR, rows[limit - 1][0])
        link = str(request.url.include_query_params(after=next_after))
        body_text += f',"paging":{{"next":{{"after":"{next_after}","link":"{link}"}}}}'
    return raw_json(body_text + "}")


def get_object(state: SandboxState, request: Request, body: Any) -> Response:
    """`GET /crm/v3/objects/{type}/{id}` (also by `idProperty`, e.g. email)."""
    object_type = resolve_type(request.path_params["type"])
    raw_id = request.path_params["id"]
    archived = bool_param(request, "archived")
    to_types = [resolve_type(t) for t in requested_properties(request, "associations")]
    with state.lock:
        catalog = catalog_of(state, object_type)
        record_id = lookup_id(state, catalog, raw_id, request.query_params.get("idProperty"))
        properties = read_properties(catalog, requested_properties(request))
        found = records_by_id(state.con, catalog, properties,
                              [record_id] if record_id else [], archived)
        if not found:
            raise not_found(raw_id)
        for to_type in to_types:
            embed_associations(found, {to_type: associations_json(
                state.con, object_type, to_type, list(found))})
    return raw_json(next(iter(found.values())))


def lookup_id(state: SandboxState, catalog: Catalog, raw_id: str,
              id_property: str | None) -> int | None:
    """A path id, or the record whose `idProperty` (a unique property) has that value."""
    if not id_property or id_property == "hs_object_id":
        return parse_id(raw_id)
    prop = catalog.get(id_property)
    if prop is None or prop.derived:
        raise validation_error(f"Unable to find unique property {id_property}")
    row = state.con.execute(
        f"select id from {catalog.table} where lower({quote(id_property)}) = lower(?) "
        "and not archived order by id limit 1", [raw_id]).fetchone()
    return row[0] if row else None


def create_object(state: SandboxState, request: Request, body: Any) -> Response:
    """`POST /crm/v3/objects/{type}`: 201 with the record (and inline associations)."""
    object_type = resolve_type(request.path_params["type"])
    body = require_properties_object(CREATE_INPUT.check(body))
    write = api_write(None, body)
    catalog, ids = write_records(state, object_type, [write], action="upsert", api=True)
    associate_inline(state, object_type, ids[0], body.get("associations") or [])
    text = written_records(state, catalog, ids, writes=[write])[ids[0]]
    location = f"{request.base_url}crm/v3/objects/{object_type}/{ids[0]}"
    return raw_json(text, 201, headers={"Location": location})


def update_object(state: SandboxState, request: Request, body: Any) -> Response:
    """`PATCH /crm/v3/objects/{type}/{id}`: only the given properties change."""
    object_type = resolve_type(request.path_params["type"])
    raw_id = request.path_params["id"]
    body = require_properties_object(OBJECT_INPUT.check(body))
    with state.lock:
        catalog = catalog_of(state, object_type)
        record_id = lookup_id(state, catalog, raw_id, request.query_params.get("idProperty"))
        if record_id is None or not ensure_ids_exist(state.con, catalog, [record_id]):
            raise not_found(raw_id)
        write = api_write(record_id, body)
        catalog, ids = write_records(state, object_type, [write], action="patch", api=True)
        text = written_records(state, catalog, ids, writes=[write])[ids[0]]
    return raw_json(text)


def archive_object(state: SandboxState, request: Request, body: Any) -> Response:
    """`DELETE /crm/v3/objects/{type}/{id}`: archive; 204 even when already gone."""
    object_type = resolve_type(request.path_params["type"])
    record_id = parse_id(request.path_params["id"])
    with state.lock:
        catalog = catalog_of(state, object_type)
        if record_id is not None and ensure_ids_exist(state.con, catalog, [record_id]):
            write_records(state, object_type, [Write(record_id, {}, True, {"archived": True})],
                          action="delete", api=True)
    return Response(status_code=204)


def batch_read(state: SandboxState, request: Request, body: Any) -> Response:
    """`POST .../batch/read`: the live records among `inputs`; missing ids -> 207 errors."""
    object_type = resolve_type(request.path_params["type"])
    inputs = batch_inputs(body, BATCH_READ, OBJECT_ID)
    started = now_ms(state)
    with state.lock:
        catalog = catalog_of(state, object_type)
        properties = read_properties(catalog, [p for p in body.get("properties") or []])
        id_property = body.get("idProperty")
        raw_ids = [str(i.get("id", "")) for i in inputs]
        ids = {raw: lookup_id(state, catalog, raw, id_property) for raw in raw_ids}
        found = records_by_id(state.con, catalog, properties,
                              sorted({i for i in ids.values() if i}), False)
    missing = [raw for raw, i in ids.items() if i not in found]
    results = [found[i] for i in dict.fromkeys(i for i in ids.values() if i in found)]
    return batch_response(results, missing, object_type, started, state)


def batch_update(state: SandboxState, request: Request, body: Any) -> Response:
    """`POST .../batch/update`: ≤100 `{id, properties}`; unknown ids -> 207 errors."""
    object_type = resolve_type(request.path_params["type"])
    inputs = batch_inputs(body, BATCH_UPDATE, UPDATE_ITEM)
    started = now_ms(state)
    with state.lock:
        catalog = catalog_of(state, object_type)
        wanted = {raw: parse_id(i.get("id")) for raw, i in
                  ((str(i.get("id", "")), i) for i in inputs)}
        live = ensure_ids_exist(state.con, catalog, [i for i in wanted.values() if i])
        writes = [api_write(parse_id(i.get("id")), require_properties_object(i))
                  for i in inputs if parse_id(i.get("id")) in live]
        results: list[str] = []
        if writes:
            catalog, ids = write_records(state, object_type, writes, action="patch", api=True)
            texts = written_records(state, catalog, ids, writes=writes)
            results = [texts[i] for i in dict.fromkeys(ids)]
    missing = [raw for raw, i in wanted.items() if i not in live]
    return batch_response(results, missing, object_type, started, state)


def batch_create(state: SandboxState, request: Request, body: Any) -> Response:
    """`POST .../batch/create`: `{inputs: [{properties, associations?}]}` -> 201."""
    object_type = resolve_type(request.path_params["type"])
    inputs = batch_inputs(body, BATCH_CREATE, CREATE_ITEM)
    started = now_ms(state)
    writes = [api_write(None, require_properties_object(i)) for i in inputs]
    with state.lock:
        catalog, ids = write_records(state, object_type, writes, action="upsert", api=True)
        for record_id, item in zip(ids, inputs, strict=True):
            associate_inline(state, object_type, record_id, item.get("associations") or [])
        texts = written_records(state, catalog, ids, writes=writes)
    response = batch_response([texts[i] for i in ids], [], object_type, started, state)
    response.status_code = 201
    return response


def batch_archive(state: SandboxState, request: Request, body: Any) -> Response:
    """`POST .../batch/archive`: archive every listed id; 204."""
    object_type = resolve_type(request.path_params["type"])
    ids = [i for i in (parse_id(x.get("id"))
                       for x in batch_inputs(body, BATCH_ARCHIVE, OBJECT_ID)) if i]
    with state.lock:
        catalog = catalog_of(state, object_type)
        live = sorted(ensure_ids_exist(state.con, catalog, ids))
        if live:
            write_records(state, object_type, [Write(i, {}, True, {"archived": True})
                                               for i in live], action="delete", api=True)
    return Response(status_code=204)


# --- helpers ------------------------------------------------------------------------------


def api_write(record_id: int | None, body: dict) -> Write:
    properties = {str(k): to_text(v) for k, v in (body.get("properties") or {}).items()}
    return Write(record_id, properties, None, {"properties": body.get("properties") or {}})


def written_records(state: SandboxState, catalog: Catalog, ids: list[int],
                    writes: list[Write]) -> dict[int, str]:
    """The records just written, with the properties the writes named plus the defaults."""
    named = sorted({n for w in writes for n in w.properties})
    properties = read_properties(catalog, [*named, *read_properties(catalog, [])])
    with state.lock:
        return records_by_id(state.con, catalog, properties, sorted(set(ids)), None)


def batch_response(results: list[str], missing: list[str], object_type: str, started: Any,
                   state: SandboxState) -> Response:
    """`{status, results, startedAt, completedAt}`, plus `numErrors` and `errors` (each a
    `StandardError`, the missing ids in `context.ids`) as a 207 when ids are missing."""
    head = (f'{{"status":"COMPLETE","results":[{",".join(results)}],'
            f'"startedAt":"{iso(started)}","completedAt":"{iso(now_ms(state))}"')
    if not missing:
        return raw_json(head + "}")
    error = batch_error(
        "OBJECT_NOT_FOUND",
        f"Could not get some {SINGULAR[object_type].upper()} objects, they may be deleted or "
        "not exist. Check that ids are valid.", {"ids": missing})
    text = json_response({"numErrors": 1, "errors": [error]}).body.decode()
    return raw_json(head + "," + text[1:], 207)
