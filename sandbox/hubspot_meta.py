"""HubSpot metadata routes: properties (read, create, update), deal pipelines, owners.

Properties are served from hs_properties plus the columns of hs_<type>, so a column added
by a fixture or by `POST /crm/v3/properties/{type}` shows up at once. Pipeline stages are
the `dealstage` options, so labels live in one place.

Shapes: `Property`/`Option` of the properties reference
(https://developers.hubspot.com/docs/api-reference/legacy/crm/properties/get-properties;
spec PublicApiSpecs/CRM/Properties/Rollouts/145899/v3/properties.json) and `PublicOwner`
of the owners reference (https://developers.hubspot.com/docs/api-reference/crm-crm-owners-v3/guide;
spec PublicApiSpecs/CRM/Crm Owners/Rollouts/146888/v3/crmOwners.json), both specs in
HubSpot/HubSpot-public-api-spec-collection.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.hubspot_common import (
    CLOSED_DEAL_STAGES,
    PROPERTY_NAME,
    Catalog,
    HubSpotError,
    Property,
    bool_param,
    catalog_of,
    cursor,
    cursor_position,
    forget_catalogs,
    int_param,
    json_response,
    load_catalog,
    raw_json,
    resolve_type,
    shape,
    validation_error,
)
from sandbox.hubspot_records import add_property_column, read_only
from sandbox.state import SandboxState

PROPERTY_TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
FIELD_TYPES = ("textarea", "text", "date", "file", "number", "select", "radio", "checkbox",
               "booleancheckbox", "calculation_equation", "phonenumber", "html")
WELL_KNOWN = {"email", "firstname", "lastname", "company", "website", "lifecyclestage",
              "hubspot_owner_id", "name", "domain", "industry", "dealname", "pipeline",
              "dealstage", "amount", "closedate", "createdate", "lastmodifieddate", "jobtitle",
              "dealtype"}
PROPERTY_CREATE = shape(
    "PropertyCreate", "calculationFormula", "currencyPropertyName", "dataSensitivity",
    "description", "displayOrder", "externalOptions", "fieldType", "formField", "groupName",
    "hasUniqueValue", "hidden", "label", "name", "numberDisplayHint", "options",
    "referencedObjectType", "showCurrencySymbol", "textDisplayHint", "type")
PROPERTY_UPDATE = shape(
    "PropertyUpdate", "calculationFormula", "currencyPropertyName", "description",
    "displayOrder", "fieldType", "formField", "groupName", "hidden", "label",
    "numberDisplayHint", "options", "showCurrencySymbol", "textDisplayHint", "type")
OPTION_INPUT = shape("OptionInput", "description", "displayOrder", "hidden", "label", "value")
OWNERS_CURSOR = "owners"
# the account's creation, which HubSpot-defined metadata carries as its timestamps
ACCOUNT_CREATED = "2020-01-01T00:00:00Z"
STAGE_PROBABILITY = {"appointmentscheduled": "0.2", "qualifiedtobuy": "0.4",
                     "presentationscheduled": "0.6", "decisionmakerboughtin": "0.8",
                     "contractsent": "0.9", "closedwon": "1.0", "closedlost": "0.0"}


def property_json(catalog: Catalog, prop: Property) -> dict[str, Any]:
    """One property as `GET /crm/v3/properties` returns it."""
    hubspot_defined = prop.name.startswith("hs_") or prop.name in WELL_KNOWN or prop.derived
    options = [
        {"label": str(o.get("label", o.get("value"))), "value": str(o.get("value")),
         "displayOrder": int(o.get("displayOrder", i)), "hidden": bool(o.get("hidden", False))}
        for i, o in enumerate(prop.options)
    ]
    body: dict[str, Any] = {
        "updatedAt": ACCOUNT_CREATED, "createdAt": ACCOUNT_CREATED,
        "name": prop.name, "label": prop.label, "type": prop.type, "fieldType": prop.field_type,
        "description": "", "groupName": prop.group_name, "options": options,
        "displayOrder": -1, "calculated": read_only(catalog, prop.name),
        "externalOptions": prop.name == "hubspot_owner_id", "hasUniqueValue": False,
        "hidden": False,
        "modificationMetadata": {"archivable": not hubspot_defined,
                                 "readOnlyDefinition": hubspot_defined,
                                 "readOnlyValue": read_only(catalog, prop.name)},
        "formField": not read_only(catalog, prop.name), "archived": False,
    }
    if hubspot_defined:
        body["hubspotDefined"] = True
    return body


def list_properties(state: SandboxState, request: Request, body: Any) -> Response:
    """`GET /crm/v3/properties/{type}`: every property, enumeration options included."""
    object_type = resolve_type(request.path_params["type"])
    if bool_param(request, "archived"):
        return json_response({"results": []})
    with state.lock:
        catalog = catalog_of(state, object_type)
    results = [property_json(catalog, catalog.properties[n]) for n in sorted(catalog.properties)]
    return json_response({"results": results})


def get_property(state: SandboxState, request: Request, body: Any) -> Response:
    object_type = resolve_type(request.path_params["type"])
    name = request.path_params["name"]
    with state.lock:
        catalog = catalog_of(state, object_type)
    prop = catalog.get(name)
    if prop is None:
        raise missing_property(object_type, name)
    return json_response(property_json(catalog, prop))


def create_property(state: SandboxState, request: Request, body: Any) -> Response:
    """`POST /crm/v3/properties/{type}`: a new column; 409 when the name is taken."""
    object_type = resolve_type(request.path_params["type"])
    spec = property_spec(PROPERTY_CREATE.check(body),
                         required=("name", "label", "type", "fieldType", "groupName"))
    name = spec["name"]
    if not PROPERTY_NAME.fullmatch(name):
        raise validation_error(f"Property name {name} is invalid: use lower-case letters, "
                               "digits and underscores, starting with a letter")
    forget_catalogs(state)
    with state.transaction() as con:
        if load_catalog(con, object_type).get(name) is not None:
            raise HubSpotError(409, f"Property named '{name}' already exists.",
                               "OBJECT_ALREADY_EXISTS", context={"name": [name]})
        add_property_column(con, object_type, name, spec["label"], spec["type"],
                            spec["fieldType"], spec["groupName"], spec["options"])
        catalog = load_catalog(con, object_type)
    state.log_event("hubspot", "properties", f"{object_type}.{name}", "upsert", body)
    return json_response(property_json(catalog, catalog.properties[name]), 201)


def update_property(state: SandboxState, request: Request, body: Any) -> Response:
    """`PATCH /crm/v3/properties/{type}/{name}`: label, group, field type or options."""
    object_type = resolve_type(request.path_params["type"])
    name = request.path_params["name"]
    spec = property_spec(PROPERTY_UPDATE.check(body), required=())
    forget_catalogs(state)
    with state.transaction() as con:
        catalog = load_catalog(con, object_type)
        prop = catalog.get(name)
        if prop is None:
            raise missing_property(object_type, name)
        if prop.derived:
            raise validation_error(f"Property {name} is read-only and cannot be updated")
        con.execute(
            """insert into hs_properties values ($t, $n, $label, $type, $ft, $g, $o)
               on conflict do update set label = $label, type = $type, field_type = $ft,
                   group_name = $g, options = $o""",
            {"t": object_type, "n": name, "label": spec.get("label") or prop.label,
             "type": spec.get("type") or prop.type, "ft": spec.get("fieldType") or prop.field_type,
             "g": spec.get("groupName") or prop.group_name,
             "o": json.dumps(spec["options"] if "options" in (body or {}) else prop.options)},
        )
        catalog = load_catalog(con, object_type)
    state.log_event("hubspot", "properties", f"{object_type}.{name}", "patch", body)
    return json_response(property_json(catalog, catalog.properties[name]))


def property_spec(body: Any, required: tuple[str, ...]) -> dict[str, Any]:
    """Check a property definition's fields and values as HubSpot validates them."""
    if not isinstance(body, dict):
        raise validation_error("Invalid input JSON: expected an object")
    absent = [k for k in required if not body.get(k)]
    if absent:
        raise validation_error(f"Invalid input JSON: missing required fields {absent}")
    if body.get("type") and body["type"] not in PROPERTY_TYPES:
        raise validation_error(f"Invalid property type {body['type']}; one of {PROPERTY_TYPES}")
    if body.get("fieldType") and body["fieldType"] not in FIELD_TYPES:
        raise validation_error(f"Invalid fieldType {body['fieldType']}; one of {FIELD_TYPES}")
    options = body.get("options") or []
    if not isinstance(options, list) or not all(
            "value" in OPTION_INPUT.check(o) and "label" in o for o in options):
        raise validation_error("Invalid input JSON: options need a label and a value")
    spec = dict(body)
    spec["options"] = [{"label": str(o["label"]), "value": str(o["value"]),
                        "displayOrder": int(o.get("displayOrder", i)),
                        "hidden": bool(o.get("hidden", False))} for i, o in enumerate(options)]
    return spec


def missing_property(object_type: str, name: str) -> HubSpotError:
    return HubSpotError(404, f"Property {name} does not exist for object type {object_type}",
                        "OBJECT_NOT_FOUND", context={"name": [name]})


# --- pipelines ----------------------------------------------------------------------------


def deal_pipeline(catalog: Catalog) -> dict[str, Any]:
    """The 'default' deal pipeline, its stages read from the dealstage options."""
    pipeline = catalog.get("pipeline")
    label = next((o["label"] for o in (pipeline.options if pipeline else [])
                  if o.get("value") == "default"), "Sales Pipeline")
    stage_prop = catalog.get("dealstage")
    stages = [
        {"id": o["value"], "label": o["label"], "displayOrder": int(o.get("displayOrder", i)),
         "metadata": {"isClosed": "true" if o["value"] in CLOSED_DEAL_STAGES else "false",
                      "probability": STAGE_PROBABILITY.get(o["value"], "0.5")},
         "createdAt": ACCOUNT_CREATED, "updatedAt": ACCOUNT_CREATED, "archived": False,
         "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}
        for i, o in enumerate(stage_prop.options if stage_prop else [])
    ]
    return {"id": "default", "label": label, "displayOrder": 0, "stages": stages,
            "createdAt": ACCOUNT_CREATED, "updatedAt": ACCOUNT_CREATED, "archived": False}


def list_pipelines(state: SandboxState, request: Request, body: Any) -> Response:
    """`GET /crm/v3/pipelines/{type}`: deals have the default pipeline; others none."""
    object_type = request.path_params["type"]
    if resolve_type(object_type) != "deals":
        return json_response({"results": []})
    with state.lock:
        catalog = catalog_of(state, "deals")
    return json_response({"results": [deal_pipeline(catalog)]})


def get_pipeline(state: SandboxState, request: Request, body: Any) -> Response:
    if (resolve_type(request.path_params["type"]) != "deals"
            or request.path_params["pipeline"] != "default"):
        raise HubSpotError(404, f"Unable to find pipeline {request.path_params['pipeline']}",
                           "OBJECT_NOT_FOUND")
    with state.lock:
        catalog = catalog_of(state, "deals")
    return json_response(deal_pipeline(catalog))


# --- owners -------------------------------------------------------------------------------


OWNER_JSON = f"""json_object('id', id, 'email', email, 'firstName', first_name,
    'lastName', last_name, 'userId', user_id, 'createdAt', '{ACCOUNT_CREATED}',
    'updatedAt', '{ACCOUNT_CREATED}', 'archived', false, 'type', 'PERSON',
    'teams', json_array())"""


def list_owners(state: SandboxState, request: Request, body: Any) -> Response:
    """`GET /crm/v3/owners`: paged by id (an opaque `after`), optionally by `email`."""
    limit = min(max(int_param(request, "limit", 100) or 100, 1), 500)
    after = cursor_position(OWNERS_CURSOR, request.query_params.get("after")) or ""
    email = request.query_params.get("email")
    if bool_param(request, "archived"):
        return json_response({"results": []})
    rows = state.rows(
        f"""select id, {OWNER_JSON} as j from hs_owners
            where id > ? and (? is null or lower(email) = lower(?)) order by id limit ?""",
        [after, email, email, limit + 1],
    )
    text = '{"results":[' + ",".join(r["j"] for r in rows[:limit]) + "]"
    if len(rows) > limit:
        next_after = cursor(OWNERS_CURSOR, rows[limit - 1]["id"])
        link = str(request.url.include_query_params(after=next_after))
        text += f',"paging":{{"next":{{"after":"{next_after}","link":"{link}"}}}}'
    return raw_json(text + "}")


def get_owner(state: SandboxState, request: Request, body: Any) -> Response:
    rows = state.rows(f"select {OWNER_JSON} as j from hs_owners where id = ?",
                      [request.path_params["owner"]])
    if not rows:
        raise HubSpotError(404, "resource not found", "OBJECT_NOT_FOUND")
    return raw_json(rows[0]["j"])
