"""What every HubSpot route shares: object types, the property catalog, time formats, errors.

The sandbox keeps each HubSpot object in a table `hs_<type>` with one varchar column per
property; `createdate`, `hs_lastmodifieddate` (contacts also `lastmodifieddate`) and
`hs_object_id` are derived from the record columns, as HubSpot derives them.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
from starlette.requests import Request
from starlette.responses import Response

from sandbox.state import SandboxState

OBJECT_TYPES = ("contacts", "companies", "deals", "emails", "meetings")
# every name HubSpot accepts for an object type in a path: plural, singular, object type id
TYPE_ALIASES = {
    **{t: t for t in OBJECT_TYPES},
    "contact": "contacts", "company": "companies", "deal": "deals", "email": "emails",
    "meeting": "meetings", "meeting_event": "meetings",
    "0-1": "contacts", "0-2": "companies", "0-3": "deals", "0-49": "emails", "0-47": "meetings",
}
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "emails": "email",
            "meetings": "meeting_event"}
RECORD_COLUMNS = ("id", "created_at", "updated_at", "archived", "archived_at")
CLOSED_DEAL_STAGES = ("closedwon", "closedlost")
SEARCH_RESULT_CAP = 10_000
BATCH_MAX = 100
PROPERTY_NAME = re.compile(r"[a-z][a-z0-9_]*")

# the default properties HubSpot returns when a read names none
DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate",
                 "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": ("amount", "closedate", "createdate", "dealname", "dealstage",
              "hs_lastmodifieddate", "hs_object_id", "pipeline"),
    "emails": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    "meetings": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}


def iso_sql(expr: str) -> str:
    """SQL turning a timestamp into HubSpot's text: '…T…:…:…Z', '.123' only when ms ≠ 0.

    That is Java's `Instant.toString()` at millisecond precision, which is what HubSpot sends.
    """
    return f"replace(strftime({expr}, '%Y-%m-%dT%H:%M:%S.%gZ'), '.000Z', 'Z')"


def parse_time_sql(expr: str) -> str:
    """SQL reading a stored datetime value (ISO with or without offset, or epoch ms) as UTC."""
    return (
        f"(case when regexp_full_match(trim({expr}), '-?[0-9]{{1,15}}') "
        f"then make_timestamp(cast(trim({expr}) as bigint) * 1000) "
        f"when regexp_matches(trim({expr}), '(Z|[+-][0-9][0-9]:?[0-9][0-9])$') "
        f"then timezone('UTC', try_cast(trim({expr}) as timestamptz)) "
        f"else try_cast(trim({expr}) as timestamp) end)"
    )


def iso(value: datetime) -> str:
    """Python twin of `iso_sql` for one naive-UTC datetime."""
    ms = value.microsecond // 1000
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms:03d}Z" if ms else f"{text}Z"


def parse_time(value: Any) -> datetime | None:
    """A filter or property value (epoch ms as number/text, or ISO text) as naive UTC."""
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    if re.fullmatch(r"-?\d{1,15}", text):
        return datetime.fromtimestamp(int(text) / 1000, UTC).replace(tzinfo=None)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def now_ms(state: SandboxState) -> datetime:
    """The sandbox clock at HubSpot's precision, so a value read back compares equal."""
    now = state.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def quote(name: str) -> str:
    """A SQL identifier, quoted (property names come from requests)."""
    return '"' + name.replace('"', '""') + '"'


# --- errors -------------------------------------------------------------------------------

# every HubSpot error body names a category (the `Error` schema requires `category`,
# `correlationId` and `message`): https://developers.hubspot.com/docs/api-reference/error-handling
# and the CRM OpenAPI specs (HubSpot/HubSpot-public-api-spec-collection, components.schemas.Error)
CATEGORY_BY_STATUS = {400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION",
                      403: "MISSING_SCOPES", 404: "OBJECT_NOT_FOUND", 409: "CONFLICT",
                      429: "RATE_LIMITS"}


class HubSpotError(Exception):
    """An error answered in HubSpot's own shape: `{status, message, correlationId, category,
    ...}`; `extra` adds the documented optional fields (`context`, `errors`, `links`,
    `subCategory`). Without a category, the one HubSpot uses for the status."""

    def __init__(self, status: int, message: str, category: str | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {
            "status": "error", "message": message, "correlationId": str(uuid.uuid4()),
            "category": category or CATEGORY_BY_STATUS.get(status, "INTERNAL_ERROR")}
        self.body.update(extra)

    def response(self) -> Response:
        return json_response(self.body, self.status)


def validation_error(message: str, **extra: Any) -> HubSpotError:
    return HubSpotError(400, message, "VALIDATION_ERROR", **extra)


def batch_error(category: str, message: str, context: dict[str, list[str]]) -> dict[str, Any]:
    """One entry of a 207's `errors`: HubSpot's `StandardError` (status, category, message,
    context, errors, links required; `subCategory`, documented as an object, left out)."""
    return {"status": "error", "category": category, "message": message, "context": context,
            "errors": [], "links": {}}


@dataclass(frozen=True)
class Shape:
    """A request body (or part of one) as the API reference documents it: its schema name
    and every field it declares."""

    name: str
    fields: frozenset[str]

    def check(self, value: Any) -> dict:
        """`value` if it is an object of documented fields only, else HubSpot's 400.

        HubSpot's JSON reader refuses a field its input class does not declare
        ("Unrecognized field ... not marked as ignorable"), so a request can never lean on
        a field the API reference does not list.
        """
        if not isinstance(value, dict):
            raise validation_error(f"Invalid input JSON: expected an object ({self.name})")
        extra = sorted(set(value) - self.fields)
        if extra:
            raise validation_error(
                f'Invalid input JSON on line 1: Unrecognized field "{extra[0]}" '
                f"(class {self.name}), not marked as ignorable")
        return value


def shape(name: str, *fields: str) -> Shape:
    return Shape(name, frozenset(fields))


def property_errors(problems: list[dict]) -> HubSpotError:
    """HubSpot's 400 for invalid property values: the problems as JSON inside `message`."""
    detail = [{"isValid": False, "message": p["message"], "error": p["error"],
               "name": p["name"], "localizedErrorMessage": p["message"]} for p in problems]
    errors = [{"message": p["message"], "code": p["error"],
               "context": {"propertyName": [p["name"]]}} for p in problems]
    return validation_error("Property values were not valid: "
                            + json.dumps(detail, separators=(",", ":")), errors=errors)


def not_found(object_id: str) -> HubSpotError:
    """HubSpot's 404 for a record id: numeric ids get the bare message, others the hint."""
    if re.fullmatch(r"\d+", object_id):
        return HubSpotError(404, "resource not found", "OBJECT_NOT_FOUND")
    return HubSpotError(404, "Object not found.  objectId are usually numeric.",
                        "OBJECT_NOT_FOUND", context={"id": [object_id]})


# --- paging cursors -----------------------------------------------------------------------

# HubSpot documents `after` as "a paging cursor token" (a string to hand back, never to
# read): the sandbox's tokens are URL-safe base64 of `<kind>:<position>`, so a client that
# parses one breaks here as it would on a real account. CRM v3 object specs, NextPage:
# https://github.com/HubSpot/HubSpot-public-api-spec-collection (PublicApiSpecs/CRM)


def cursor(kind: str, position: int | str) -> str:
    """The `after` token for the next page of a listing of `kind`."""
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def cursor_sql(kind: str, position_sql: str) -> str:
    """SQL twin of `cursor` for a column of positions (pages built in DuckDB)."""
    encoded = f"to_base64(encode('{kind}:' || cast({position_sql} as varchar)))"
    return f"replace(replace(rtrim({encoded}, '='), '+', '-'), '/', '_')"


def cursor_position(kind: str, token: Any) -> str | None:
    """The position a token names (None for no token); HubSpot's 400 for a bad one."""
    if token is None or token == "":
        return None
    text = str(token)
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        decoded = ""
    found_kind, _, position = decoded.partition(":")
    if found_kind != kind or not position:
        raise validation_error(f"Invalid paging cursor after={text[:40]}: pass back the "
                               "paging.next.after of the previous page")
    return position


def int_cursor(kind: str, token: Any) -> int:
    """A token whose position is a number (an id or an offset); 0 for no token."""
    position = cursor_position(kind, token)
    if position is None:
        return 0
    if not re.fullmatch(r"\d{1,18}", position):
        raise validation_error(f"Invalid paging cursor after={str(token)[:40]}")
    return int(position)


def json_response(body: Any, status: int = 200) -> Response:
    return raw_json(json.dumps(body, separators=(",", ":"), default=str), status)


def raw_json(text: str | bytes, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON body already serialized (pages are built as text in DuckDB)."""
    return Response(text, status_code=status, headers=headers,
                    media_type="application/json;charset=utf-8")


def endpoint(handler: Callable[[Request, Any], Response]) -> Callable[[Request], Response]:
    """Wrap a sync handler: parse the JSON body, answer HubSpotError (and bugs) in its shape.

    The handler takes (request, body); `body` is None for requests without one.
    """

    async def run(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError as exc:
            return HubSpotError(400, f"Invalid input JSON on line 1: {exc}").response()
        from starlette.concurrency import run_in_threadpool

        try:
            return await run_in_threadpool(handler, request, body)
        except HubSpotError as exc:
            return exc.response()
        except (duckdb.Error, ValueError, KeyError, TypeError) as exc:
            # a sandbox bug or an input we did not foresee: say so in HubSpot's shape
            return HubSpotError(500, f"internal error: {type(exc).__name__}: {exc}",
                                "INTERNAL_ERROR").response()

    run.__name__ = handler.__name__
    return run


# --- the property catalog -----------------------------------------------------------------


def resolve_type(name: str) -> str:
    """The table name part for a path's object type, or HubSpot's 400 for an unknown one."""
    object_type = TYPE_ALIASES.get(name.lower())
    if object_type is None:
        raise validation_error(f"Unable to infer object type from: {name}")
    return object_type


def with_times(relation: str) -> str:
    """A relation of hs_<type> rows plus `hs_c`/`hs_u`: created/updated as HubSpot text.

    Record JSON refers to these twice or more per row; computing them once keeps the
    per-page query small to plan, which is most of its cost.
    """
    return (f"(select *, {iso_sql('created_at')} as hs_c, {iso_sql('updated_at')} as hs_u "
            f"from {relation})")


def derived_properties(object_type: str) -> dict[str, str]:
    """Properties HubSpot computes from the record: name -> SQL over `with_times` rows."""
    derived = {"hs_object_id": "cast(id as varchar)", "createdate": "hs_c",
               "hs_lastmodifieddate": "hs_u"}
    if object_type in ("emails", "meetings"):
        derived["hs_createdate"] = "hs_c"
    if object_type == "contacts":
        derived["lastmodifieddate"] = "hs_u"
    return derived


@dataclass
class Property:
    name: str
    type: str = "string"          # string | number | datetime | date | enumeration | bool
    field_type: str = "text"
    label: str = ""
    group_name: str = "sandbox"
    options: list[dict] = field(default_factory=list)
    derived: bool = False
    defined: bool = True          # has an hs_properties row

    @property
    def multi_select(self) -> bool:
        return self.type == "enumeration" and self.field_type == "checkbox"


@dataclass
class Catalog:
    """The properties one object type has right now (columns can be added at runtime)."""

    object_type: str
    properties: dict[str, Property]

    @property
    def table(self) -> str:
        return f"hs_{self.object_type}"

    def stored(self) -> list[str]:
        """Names of the properties that are columns, in name order."""
        return sorted(n for n, p in self.properties.items() if not p.derived)

    def get(self, name: str) -> Property | None:
        return self.properties.get(name)

    def value_sql(self, name: str) -> str:
        """The SQL for a property's text value, as the API returns it."""
        prop = self.properties[name]
        if prop.derived:
            return derived_properties(self.object_type)[name]
        return quote(name)


# (type, fieldType, label) of the derived properties, as HubSpot defines them
DERIVED_DEFINITIONS = {
    "hs_object_id": ("number", "number", "Record ID"),
    "createdate": ("datetime", "date", "Create Date"),
    "hs_createdate": ("datetime", "date", "Create Date"),
    "hs_lastmodifieddate": ("datetime", "date", "Last Modified Date"),
    "lastmodifieddate": ("datetime", "date", "Last Modified Date"),
}


def load_catalog(con: duckdb.DuckDBPyConnection, object_type: str) -> Catalog:
    """Read the columns of hs_<type> and their hs_properties definitions (one query)."""
    rows = con.execute(
        """
        select c.column_name, p.type, p.field_type, p.label, p.group_name, p.options
        from duckdb_columns() c
        left join hs_properties p on p.object_type = $type and p.name = c.column_name
        where c.table_name = $table and c.schema_name = 'main'
        """,
        {"type": object_type, "table": f"hs_{object_type}"},
    ).fetchall()
    properties: dict[str, Property] = {}
    for name, type_, field_type, label, group, options in rows:
        if name in RECORD_COLUMNS:
            continue
        properties[name] = Property(
            name, type_ or "string", field_type or "text", label or name, group or "sandbox",
            json.loads(options) if options else [], defined=type_ is not None)
    for name in derived_properties(object_type):
        type_, field_type, label = DERIVED_DEFINITIONS[name]
        properties[name] = Property(name, type_, field_type, label, "sandbox", [], True)
    return Catalog(object_type, properties)


def catalog_of(state: SandboxState, object_type: str) -> Catalog:
    """The catalog, cached per connection (a reset makes a new one); call with the lock held.

    Writers that change properties call `forget_catalogs`. A catalog read before the
    metadata is seeded is not kept, so a request racing a reset cannot pin it.
    """
    cache = getattr(state, "_hubspot_catalogs", None)
    if cache is None or cache.get("con") is not state.con:
        cache = {"con": state.con}
        state._hubspot_catalogs = cache  # type: ignore[attr-defined]
    catalog = cache.get(object_type)
    if catalog is None:
        catalog = load_catalog(state.con, object_type)
        if any(p.defined and not p.derived for p in catalog.properties.values()):
            cache[object_type] = catalog
    return catalog


def forget_catalogs(state: SandboxState) -> None:
    state._hubspot_catalogs = None  # type: ignore[attr-defined]


def requested_properties(request: Request, name: str = "properties") -> list[str]:
    """A repeated and/or comma-separated query parameter, in order, without duplicates."""
    values: list[str] = []
    for raw in request.query_params.getlist(name):
        values += [v.strip() for v in raw.split(",") if v.strip()]
    return list(dict.fromkeys(values))


def int_param(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise validation_error(f"Invalid value for {name}: {raw}") from None


def bool_param(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


def batch_inputs(body: Any, outer: Shape, item: Shape, limit: int = BATCH_MAX) -> list[dict]:
    """The `inputs` of a batch call: documented fields only, at most `limit` of them (100
    for CRM object batches)."""
    outer.check(body)
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise validation_error("Invalid input JSON: inputs must be a list")
    if len(inputs) > limit:
        raise validation_error(f"Batch input cannot contain more than {limit} inputs; "
                               f"got {len(inputs)}")
    return [item.check(i) for i in inputs]
