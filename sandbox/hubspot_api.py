"""The sandbox's HubSpot API: the routes hubspot-api-client talks to, and the control hooks.

`routes(state)` serves CRM v3 objects (list, get, create, update, archive, batch read /
update / create / archive, search), properties, deal pipelines, owners, v3/v4
associations and Sequences v4. `upsert_records` and `associate` are what the
`/_sandbox/hubspot/...` control endpoints call. The work lives in the hubspot_* modules:
records (set-based reads and writes), objects, search, meta, associations, sequences.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import (
    hubspot_associations,
    hubspot_meta,
    hubspot_objects,
    hubspot_search,
    hubspot_sequences,
)
from sandbox.hubspot_common import HubSpotError, endpoint, resolve_type
from sandbox.hubspot_records import Write, parse_id, read_properties, records_by_id, to_text
from sandbox.hubspot_records import write_records as _write_records
from sandbox.state import SandboxState

Handler = Callable[[SandboxState, Request, Any], Response]

OBJECTS = "/crm/v3/objects/{type}"
# (path, methods, handler); Starlette picks the route whose path and method both match
ROUTE_TABLE: list[tuple[str, list[str], Handler]] = [
    (OBJECTS, ["GET"], hubspot_objects.list_objects),
    (OBJECTS, ["POST"], hubspot_objects.create_object),
    (OBJECTS + "/search", ["POST"], hubspot_search.search),
    (OBJECTS + "/batch/read", ["POST"], hubspot_objects.batch_read),
    (OBJECTS + "/batch/update", ["POST"], hubspot_objects.batch_update),
    (OBJECTS + "/batch/create", ["POST"], hubspot_objects.batch_create),
    (OBJECTS + "/batch/archive", ["POST"], hubspot_objects.batch_archive),
    (OBJECTS + "/{id}", ["GET"], hubspot_objects.get_object),
    (OBJECTS + "/{id}", ["PATCH"], hubspot_objects.update_object),
    (OBJECTS + "/{id}", ["DELETE"], hubspot_objects.archive_object),
    ("/crm/v3/properties/{type}", ["GET"], hubspot_meta.list_properties),
    ("/crm/v3/properties/{type}", ["POST"], hubspot_meta.create_property),
    ("/crm/v3/properties/{type}/{name}", ["GET"], hubspot_meta.get_property),
    ("/crm/v3/properties/{type}/{name}", ["PATCH"], hubspot_meta.update_property),
    ("/crm/v3/pipelines/{type}", ["GET"], hubspot_meta.list_pipelines),
    ("/crm/v3/pipelines/{type}/{pipeline}", ["GET"], hubspot_meta.get_pipeline),
    # hubspot-api-client asks for "/crm/v3/owners/" (trailing slash); serve both
    ("/crm/v3/owners", ["GET"], hubspot_meta.list_owners),
    ("/crm/v3/owners/", ["GET"], hubspot_meta.list_owners),
    ("/crm/v3/owners/{owner}", ["GET"], hubspot_meta.get_owner),
    ("/crm/v4/objects/{from}/{id}/associations/{to}", ["GET"], hubspot_associations.v4_list),
    ("/crm/v4/associations/{from}/{to}/batch/read", ["POST"],
     hubspot_associations.v4_batch_read),
    ("/crm/v3/associations/{from}/{to}/batch/read", ["POST"],
     hubspot_associations.v3_batch_read),
    ("/automation/v4/sequences", ["GET"], hubspot_sequences.list_sequences),
    ("/automation/v4/sequences/", ["GET"], hubspot_sequences.list_sequences),
    ("/automation/v4/sequences/enrollments", ["POST"], hubspot_sequences.enroll),
    ("/automation/v4/sequences/enrollments/", ["POST"], hubspot_sequences.enroll),
    ("/automation/v4/sequences/enrollments/contact/{contact}", ["GET"],
     hubspot_sequences.enrollment_status),
    ("/automation/v4/sequences/{sequence}", ["GET"], hubspot_sequences.get_sequence),
]


def routes(state: SandboxState) -> list[Route]:
    """Every HubSpot route, bound to this state."""
    return [Route(path, endpoint(bind(state, handler)), methods=methods)
            for path, methods, handler in ROUTE_TABLE]


def bind(state: SandboxState, handler: Handler) -> Callable[[Request, Any], Response]:
    def bound(request: Request, body: Any) -> Response:
        return handler(state, request, body)

    bound.__name__ = handler.__name__
    return bound


def upsert_records(state: SandboxState, object_type: str, records: list[dict]) -> list[dict]:
    """Create or update records given in the API's shape, in one set-based write.

    `{"id"?, "properties": {...}, "archived"?: bool}`: a missing id creates a record with
    the next id; an id that does not exist yet is created with that id; `"archived": true`
    archives. Unknown properties become text properties, as a fixture needs. Returns the
    records as the API would return them, with every property.
    """
    try:
        resolved = resolve_type(object_type)
    except HubSpotError as exc:
        raise ValueError(f"/_sandbox/hubspot/{object_type}: {exc}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError(f"/_sandbox/hubspot/{object_type}: send a JSON list of records "
                         '{"id"?, "properties": {...}, "archived"?}')
    writes = [control_write(resolved, r) for r in records]
    if not writes:
        return []
    catalog, ids = _write_records(state, resolved, writes, action="upsert", api=False)
    with state.lock:
        texts = records_by_id(state.con, catalog,
                              read_properties(catalog, sorted(catalog.properties)),
                              sorted(set(ids)), None)
    return [json.loads(texts[i]) for i in ids]


def control_write(object_type: str, record: dict) -> Write:
    """One control-API record as a Write; explicit ids must be positive integers."""
    record_id = None
    if record.get("id") not in (None, ""):
        record_id = parse_id(record["id"])
        if record_id is None:
            raise ValueError(f"/_sandbox/hubspot/{object_type}: id {record['id']!r} is not a "
                             "positive integer (HubSpot ids are numbers)")
    properties = record.get("properties") or {}
    if not isinstance(properties, dict):
        raise ValueError(f"/_sandbox/hubspot/{object_type}: properties must be an object")
    archived = record.get("archived")
    return Write(record_id, {str(k): to_text(v) for k, v in properties.items()},
                 None if archived is None else bool(archived), record)


def associate(state: SandboxState, rows: list[dict]) -> None:
    """Associate records: `[{from_type, from_id, to_type, to_id}]`, stored once per pair."""
    if not isinstance(rows, list):
        raise ValueError("/_sandbox/hubspot/associations: send a JSON list of "
                         "{from_type, from_id, to_type, to_id}")
    hubspot_associations.insert_associations(state, rows)
