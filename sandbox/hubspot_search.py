"""HubSpot CRM search: `filterGroups` translated to SQL with bound values.

Groups are OR-ed, filters in a group AND-ed. Each filter compares the property typed as
HubSpot types it: numbers numerically, datetimes as timestamps (values as epoch ms or
ISO), text case-insensitively, multi-select checkboxes per option. Identifiers are quoted
and every value is a bound parameter, never text in the SQL.

The request takes only the documented fields (`PublicObjectSearchRequest`: after,
filterGroups, limit, properties, query, sorts; `Filter`: propertyName, operator, value,
values, highValue) and answers `{total, results, paging}` with an opaque `after`; limits
from https://developers.hubspot.com/docs-beta/crm/search (200 per page, 5 groups of at
most 6 filters, 18 in all, 10,000 results per query).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.hubspot_common import (
    SEARCH_RESULT_CAP,
    Catalog,
    HubSpotError,
    Property,
    catalog_of,
    cursor,
    int_cursor,
    parse_time,
    parse_time_sql,
    quote,
    raw_json,
    resolve_type,
    shape,
    validation_error,
    with_times,
)
from sandbox.hubspot_records import read_properties, record_json_sql
from sandbox.state import SandboxState

SEARCH_LIMIT_MAX = 200
MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
SEARCHABLE = {
    "contacts": ("email", "firstname", "lastname", "company", "hs_additional_emails"),
    "companies": ("name", "domain", "website"),
    "deals": ("dealname",),
    "emails": ("hs_email_subject",),
    "meetings": ("hs_meeting_title",),
}
COMPARISONS = {"GT": ">", "GTE": ">=", "LT": "<", "LTE": "<="}
SEARCH_CURSOR = "search"
SEARCH_REQUEST = shape("PublicObjectSearchRequest", "after", "filterGroups", "limit",
                       "properties", "query", "sorts")
FILTER_GROUP = shape("FilterGroup", "filters")
FILTER = shape("Filter", "highValue", "operator", "propertyName", "value", "values")
# the guide's object form of a sort; the spec also allows a property name as a string
SORT = shape("Sort", "direction", "propertyName")


class Params:
    """Collects bound values and hands out their `$pN` names."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def property_sql(catalog: Catalog, prop: Property) -> tuple[str, str]:
    """(SQL expression, kind) of a property for comparing: kind is number, time or text."""
    if prop.derived:
        if prop.name == "hs_object_id":
            return "id", "number"
        column = "created_at" if "create" in prop.name else "updated_at"
        # HubSpot keeps milliseconds; a value read back must compare equal to itself
        return f"date_trunc('millisecond', {column})", "time"
    column = quote(prop.name)
    if prop.type == "number":
        return f"try_cast({column} as double)", "number"
    if prop.type in ("datetime", "date"):
        return parse_time_sql(column), "time"
    return f"lower({column})", "text"


def typed_value(kind: str, value: Any, prop: Property) -> Any:
    """A filter value as the SQL side expects it; HubSpot's 400 when it cannot be."""
    if kind == "number":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise validation_error(f"{value} is not a valid number for property "
                                   f"{prop.name}") from None
    if kind == "time":
        parsed = parse_time(value)
        if parsed is None:
            raise validation_error(f"{value} is not a valid datetime for property {prop.name}: "
                                   "use epoch milliseconds or ISO 8601")
        return parsed
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower()


def filter_sql(catalog: Catalog, item: dict, params: Params) -> str:
    """One filter as a SQL predicate over hs_<type>."""
    FILTER.check(item)
    name = item.get("propertyName")
    operator = str(item.get("operator", "EQ")).upper()
    prop = catalog.get(str(name))
    if prop is None:
        raise HubSpotError(
            400, f'There was a problem with the request: Property "{name}" does not exist',
            "VALIDATION_ERROR", errors=[{"message": f'Property "{name}" does not exist',
                                         "code": "PROPERTY_DOESNT_EXIST",
                                         "context": {"propertyName": [str(name)]}}])
    expr, kind = property_sql(catalog, prop)
    present = ("true" if prop.derived
               else f"({quote(prop.name)} is not null and {quote(prop.name)} <> '')")
    if operator == "HAS_PROPERTY":
        return present
    if operator == "NOT_HAS_PROPERTY":
        return f"not {present}"
    if operator in ("IN", "NOT_IN"):
        values = item.get("values")
        if not isinstance(values, list) or not values:
            raise validation_error(f"{operator} on {name} needs a non-empty values list")
        bound = params.bind([typed_value(kind, v, prop) for v in values])
        if prop.multi_select:
            test = f"list_has_any(string_split({expr}, ';'), {bound})"
        else:
            test = f"{expr} in (select unnest({bound}))"
        return test if operator == "IN" else f"not coalesce({test}, false)"
    if "value" not in item and operator != "BETWEEN":
        raise validation_error(f"{operator} on {name} needs a value")
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        test = contains_token_sql(expr, str(item.get("value", "")).lower(), params)
        return test if operator == "CONTAINS_TOKEN" else f"not coalesce({test}, false)"
    value = typed_value(kind, item.get("value"), prop)
    if operator == "EQ":
        if prop.multi_select:
            return f"list_contains(string_split({expr}, ';'), {params.bind(value)})"
        return f"{expr} = {params.bind(value)}"
    if operator == "NEQ":
        if prop.multi_select:
            return f"not coalesce(list_contains(string_split({expr}, ';'), " \
                   f"{params.bind(value)}), false)"
        return f"{expr} is distinct from {params.bind(value)}"
    if operator in COMPARISONS:
        return f"{expr} {COMPARISONS[operator]} {params.bind(value)}"
    if operator == "BETWEEN":
        high = typed_value(kind, item.get("highValue"), prop)
        return f"{expr} between {params.bind(value)} and {params.bind(high)}"
    raise validation_error(f"Unsupported filter operator {operator} on {name}; use EQ, NEQ, "
                           "GT, GTE, LT, LTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY, "
                           "NOT_HAS_PROPERTY, CONTAINS_TOKEN or NOT_CONTAINS_TOKEN")


def contains_token_sql(expr: str, token: str, params: Params) -> str:
    """CONTAINS_TOKEN: a whole word of the value, or a `*` wildcard pattern."""
    if "*" in token:
        escaped = token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{expr} like {params.bind(escaped.replace('*', '%'))} escape '\\'"
    bound = params.bind(token)
    return (f"({expr} = {bound} or list_contains(regexp_split_to_array({expr}, "
            f"'[\\s,;]+'), {bound}) or list_contains(regexp_split_to_array({expr}, "
            f"'[^a-z0-9]+'), {bound}))")


def where_sql(catalog: Catalog, body: dict, params: Params) -> str:
    """The whole WHERE: live records, OR of the groups, and the free-text `query`."""
    groups = [FILTER_GROUP.check(g) for g in body.get("filterGroups") or []]
    if len(groups) > MAX_GROUPS:
        raise validation_error(f"Too many filter groups: {len(groups)} > {MAX_GROUPS}")
    if sum(len(g.get("filters") or []) for g in groups) > MAX_FILTERS:
        raise validation_error(f"Too many filters: at most {MAX_FILTERS} in all")
    clauses = []
    for group in groups:
        filters = group.get("filters") or []
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(f"Too many filters in a group: {len(filters)} > "
                                   f"{MAX_FILTERS_PER_GROUP}")
        if filters:
            clauses.append("(" + " and ".join(filter_sql(catalog, f, params)
                                              for f in filters) + ")")
    where = "not archived"
    if clauses:
        where += " and (" + " or ".join(clauses) + ")"
    query = str(body.get("query") or "").strip().lower()
    searchable = [p for p in SEARCHABLE[catalog.object_type] if catalog.get(p)]
    if query and searchable:
        bound = params.bind(query)
        where += " and (" + " or ".join(
            f"contains(lower({quote(p)}), {bound})" for p in searchable) + ")"
    return where


def order_sql(catalog: Catalog, sorts: list[Any]) -> str:
    """`sorts` as ORDER BY (nulls last), then id so pages never overlap."""
    terms = []
    for item in sorts or []:
        if isinstance(item, str):
            name, descending = item.lstrip("-"), item.startswith("-")
        else:
            name = str(SORT.check(item).get("propertyName"))
            descending = str(item.get("direction", "ASCENDING")).upper() == "DESCENDING"
        prop = catalog.get(name)
        if prop is None:
            raise validation_error(f'Cannot sort by property "{name}": it does not exist')
        expr, _ = property_sql(catalog, prop)
        terms.append(f"{expr} {'desc' if descending else 'asc'} nulls last")
    return ", ".join([*terms, "id"])


def page_bounds(body: dict) -> tuple[int, int]:
    """(offset, limit) checked against HubSpot's limits, including the 10,000-result cap;
    the offset is what the opaque `after` token of the previous page names."""
    try:
        limit = int(body.get("limit") or 10)
    except (TypeError, ValueError):
        raise validation_error("limit must be an integer") from None
    after = int_cursor(SEARCH_CURSOR, body.get("after"))
    if limit < 1 or limit > SEARCH_LIMIT_MAX:
        raise validation_error(f"limit must be between 1 and {SEARCH_LIMIT_MAX}; got {limit}")
    if after + limit > SEARCH_RESULT_CAP:
        raise validation_error(
            f"Search results are limited to {SEARCH_RESULT_CAP} per query: after ({after}) + "
            f"limit ({limit}) passes it; narrow the filters (e.g. a time window) instead",
            subCategory="SEARCH_RESULTS_LIMIT")
    return after, limit


def search(state: SandboxState, request: Request, body: Any) -> Response:
    """`POST /crm/v3/objects/{type}/search`: `{total, results, paging}`, offset paging."""
    object_type = resolve_type(request.path_params["type"])
    body = SEARCH_REQUEST.check(body if body is not None else {})
    after, limit = page_bounds(body)
    with state.lock:
        catalog = catalog_of(state, object_type)
        params = Params()
        where = where_sql(catalog, body, params)
        order = order_sql(catalog, body.get("sorts") or [])
        properties = read_properties(catalog, list(body.get("properties") or []))
        total = state.con.execute(
            f"select count(*) from {catalog.table} where {where}", params.values).fetchone()[0]
        page_rows = (f"(select * from {catalog.table} where {where} "
                     f"order by {order} limit {limit} offset {after})")
        rows = state.con.execute(
            f"select {record_json_sql(catalog, properties)} from {with_times(page_rows)} "
            f"order by {order}",
            params.values,
        ).fetchall()
    text = f'{{"total":{total},"results":[' + ",".join(r[0] for r in rows) + "]"
    if after + len(rows) < total:
        text += f',"paging":{{"next":{{"after":"{cursor(SEARCH_CURSOR, after + limit)}"}}}}'
    return raw_json(text + "}")
