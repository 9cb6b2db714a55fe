"""How the sandbox's Apollo routes read parameters and refuse, as Apollo documents it.

Parameters: the reference (https://docs.apollo.io/reference/) lists them as query
parameters, the legacy reference (https://apolloio.github.io/apollo-api-docs/) shows the
same names in a JSON body, so both places are read (`contact_ids[]` and `contact_ids`
alike); a name the reference does not list for the endpoint is refused with 422, Apollo's
status for "parameters misconfigured" ("Errors", https://docs.apollo.io/reference/errors-1),
as is an id that is not one. The error body's shape is not documented beyond "see the
error message": the sandbox answers `{"error": "..."}`. Paging: `page` and `per_page`
(at most 100), "up to 500 pages"; answers carry `pagination`.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from sandbox import apollo_records as records

MAX_PER_PAGE = 100
MAX_PAGE = 500
Params = dict[str, Any]


class ApolloError(Exception):
    """A refusal in Apollo's status, with `{"error": message}` as its body."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code

    def answer(self) -> JSONResponse:
        body = {"error": self.message} | ({"error_code": self.code} if self.code else {})
        return JSONResponse(body, status_code=self.status)


def misconfigured(message: str) -> ApolloError:
    return ApolloError(422, message)


def parse(request: Request, raw: bytes, allowed: set[str]) -> Params:
    """The query's and the JSON body's parameters by name (`x[]` read as `x`, lists kept as
    lists); a name the endpoint does not take is refused."""
    found: Params = {}
    for key in set(request.query_params):
        values = request.query_params.getlist(key)
        name = key[:-2] if key.endswith("[]") else key
        found[name] = values if key.endswith("[]") or len(values) > 1 else values[0]
    if raw:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ApolloError(400, "Invalid request: the body is not JSON") from exc
        if not isinstance(body, dict):
            raise ApolloError(400, "Invalid request: the body is not a JSON object")
        for key, value in body.items():
            found.setdefault(key[:-2] if key.endswith("[]") else key, value)
    unknown = sorted(set(found) - allowed)
    if unknown:
        raise misconfigured(f"Unknown parameter(s): {', '.join(unknown)}")
    return found


def as_list(params: Params, name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def flag(params: Params, name: str) -> bool:
    value = params.get(name, False)
    return value is True or str(value).lower() == "true"


def _int(params: Params, name: str, default: int) -> int:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(str(value))
    except ValueError as exc:
        raise misconfigured(f"{name} must be a number") from exc


def paging(params: Params) -> tuple[int, int]:
    """(page, per_page): page from 1, at most 100 a page; past page 500 nothing shows."""
    page = max(1, _int(params, "page", 1))
    return page, min(MAX_PER_PAGE, max(1, _int(params, "per_page", 25)))


def pagination(page: int, per_page: int, total: int) -> dict[str, int]:
    return {"page": page, "per_page": per_page, "total_entries": total,
            "total_pages": -(-min(total, MAX_PER_PAGE * MAX_PAGE) // per_page)}


def ids(kind: str, values: list[str], name: str) -> list[int]:
    """Row ids of the given Apollo ids; one that is not an id fails the call."""
    numbers = []
    for value in values:
        number = records.row_id(kind, value)
        if number is None:
            raise misconfigured(f"{name}: {value[:40]} is not a valid ID")
        numbers.append(number)
    return list(dict.fromkeys(numbers))
