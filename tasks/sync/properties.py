"""The start-up check of seqguard.yml's property names against the CRMs themselves.

Every property the file names (`crms.hubspot.properties`, `crms.salesforce.fields` and
the sources of `columns:`) must exist: HubSpot's properties API
(https://developers.hubspot.com/docs/api-reference/legacy/crm/properties/get-properties)
and Salesforce's sObject describe
(https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm)
list them. One call per object that has configured names, before any record is read, so a
typo fails the cycle in seconds with the property, where it is configured, and the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from tasks.core.columns import CustomColumn, pulled
from tasks.core.config import Config
from tasks.core.errors import ConfigError
from tasks.sync.hubspot import settings as hubspot_settings
from tasks.sync.hubspot.client import HubSpotClient
from tasks.sync.limiter import configured_limiter
from tasks.sync.salesforce import settings as salesforce_settings
from tasks.sync.salesforce.client import SalesforceClient


@dataclass(frozen=True)
class Missing:
    crm: str
    object: str
    name: str
    setting: str  # where seqguard.yml names it
    near: str | None  # the CRM's closest name, if any is close

    def message(self) -> str:
        kind = "property" if self.crm == "hubspot" else "field"
        fix = (f"did you mean '{self.near}'?" if self.near else
               f"write the {kind}'s internal (API) name"
               + (" (custom fields end in __c)" if self.crm == "salesforce" else ""))
        return (f"{self.setting}: {'HubSpot' if self.crm == 'hubspot' else 'Salesforce'} "
                f"{self.object} has no {kind} '{self.name}'; {fix}")


def check_configured_properties(config: Config) -> None:
    """Raise one ConfigError naming every configured property the CRMs lack."""
    missing: list[Missing] = []
    for crm, configured, objects, names_of in _crms(config):
        wanted, _ = pulled(config.custom_columns, crm, configured)
        _check_objects(crm, wanted, objects)
        missing += [m for obj, names in wanted.items() if names
                    for m in _missing(config, crm, obj, names, names_of(obj))]
    if missing:
        more = f" (and {len(missing) - 1} more: " + "; ".join(
            m.message() for m in missing[1:]) + ")" if len(missing) > 1 else ""
        raise ConfigError(f"seqguard.yml {missing[0].message()}{more}")


def _crms(config: Config) -> Iterator[tuple[str, dict[str, list[str]], tuple[str, ...],
                                            Callable[[str], set[str]]]]:
    """Per configured CRM: its name, its configured lists, the objects seqguard syncs, and
    how to list an object's property names (a client made on first use)."""
    if config.hubspot is not None:
        hubspot = config.hubspot

        @cache
        def hubspot_client() -> HubSpotClient:
            return HubSpotClient(hubspot, configured_limiter(
                "hubspot", hubspot.rate_limit_per_10s, hubspot_settings.RATE_LIMIT_PER_10S),
                pool_size=1)

        yield ("hubspot", hubspot.properties, hubspot_settings.OBJECTS,
               lambda obj: {p["name"] for p in hubspot_client().properties(obj)})
    if config.salesforce is not None:
        salesforce = config.salesforce

        @cache
        def salesforce_client() -> SalesforceClient:
            return SalesforceClient(salesforce, configured_limiter(
                "salesforce", salesforce.rate_limit_per_10s,
                salesforce_settings.RATE_LIMIT_PER_10S), pool_size=1)

        yield ("salesforce", salesforce.fields, salesforce_settings.OBJECTS,
               lambda obj: {f["name"] for f in salesforce_client().describe(obj).get("fields", [])})


def _check_objects(crm: str, wanted: dict[str, list[str]], objects: tuple[str, ...]) -> None:
    setting = "crms.hubspot.properties" if crm == "hubspot" else "crms.salesforce.fields"
    for obj in wanted:
        if obj not in objects:
            raise ConfigError(f"seqguard.yml {setting}.{obj}: not an object seqguard syncs; "
                              f"use one of {', '.join(objects)}")


def _missing(config: Config, crm: str, obj: str, names: list[str],
             known: set[str]) -> list[Missing]:
    return [Missing(crm, obj, name, _setting(config, crm, obj, name),
                    next(iter(difflib.get_close_matches(name, sorted(known), n=1)), None))
            for name in names if name not in known]


def _setting(config: Config, crm: str, obj: str, name: str) -> str:
    """Where seqguard.yml names a CRM property: a `columns:` source or a crms list."""
    column: CustomColumn | None = next(
        (c for c in config.columns if c.field_of(crm) == name), None)
    if column is not None:
        return f"columns.{column.table}.{column.name}.{crm}"
    return (f"crms.hubspot.properties.{obj}" if crm == "hubspot"
            else f"crms.salesforce.fields.{obj}")
