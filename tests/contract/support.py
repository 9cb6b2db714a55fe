"""What the contract tests share: the check that an answer or a request has only the fields
a vendor documents, each of the documented type (against an example shaped like the
reference's own), one call as it went over the wire, and the small account they run on."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from sandbox.client import SandboxClient


class Maybe:
    """A documented field that may be null."""

    def __init__(self, of: Any) -> None:
        self.of = of


# a placeholder string of an example -> the pattern a value must match, and what it is
Formats = Mapping[str, tuple[re.Pattern[str], str]]


def checker(formats: Formats) -> Callable[..., None]:
    """`assert_documented(value, example, where)` with the vendor's string formats."""

    def assert_documented(value: Any, example: Any, where: str = "body") -> None:
        """`value` has only documented fields, each of the documented type (recursively)."""
        if isinstance(example, Maybe):
            if value is not None:
                assert_documented(value, example.of, where)
        elif isinstance(example, dict):
            assert isinstance(value, dict), f"{where}: {value!r} is not an object"
            if not example:
                return  # a free-form object (properties, context, links)
            extra = sorted(set(value) - set(example))
            assert not extra, f"{where}: {extra} not in the documented shape {sorted(example)}"
            for key, item in value.items():
                assert_documented(item, example[key], f"{where}.{key}")
        elif isinstance(example, list):
            assert isinstance(value, list), f"{where}: {value!r} is not a list"
            for i, item in enumerate(value):
                assert_documented(item, example[0], f"{where}[{i}]")
        elif isinstance(example, bool):
            assert isinstance(value, bool), f"{where}: {value!r} is not a boolean"
        elif isinstance(example, int):
            assert isinstance(value, int) and not isinstance(value, bool), \
                f"{where}: {value!r} is not an integer"
        elif isinstance(example, str) and example in formats:
            pattern, what = formats[example]
            assert isinstance(value, str) and pattern.fullmatch(value), \
                f"{where}: {value!r} is not {what}"
        else:
            assert isinstance(value, str), f"{where}: {value!r} is not a string"

    return assert_documented


class Exchange:
    """One call as it went over the wire: what seqguard sent, what the vendor answered."""

    def __init__(self, response: requests.Response) -> None:
        request = response.request
        url = urlsplit(str(request.url))
        self.method = str(request.method)
        self.path = url.path
        self.params = parse_qs(url.query)   # name -> [values]
        self.status = response.status_code
        self.answer = response.json() if response.content else None


def small_account(sandbox: SandboxClient, now: datetime) -> None:
    """Two sequences and three CRM contacts (p1..p3@example.com, HubSpot ids 1..3)."""
    sandbox.reset(now=now)
    sandbox.define_sequences([
        {"id": "101", "name": "Enterprise outbound", "steps": [{"after_minutes": 60}]},
        {"id": "102", "name": "Webinar follow-up", "steps": [{"after_minutes": 30}]}])
    sandbox.upsert_hubspot("contacts", [
        {"id": str(i), "properties": {"email": f"p{i}@example.com"}} for i in (1, 2, 3)])
