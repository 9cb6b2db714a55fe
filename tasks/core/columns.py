"""Configured crm.* columns: one name per concept, fed by each CRM's own property.

`columns:` in seqguard.yml names extra columns of crm.people, crm.companies and
crm.opportunities and, per CRM, the property (HubSpot) or field (Salesforce) each comes
from, e.g. `people: {job_title: {hubspot: jobtitle, salesforce: Title}}`. The sync pulls
those properties (besides crms.*.properties/fields), start-up checks that the CRM has them
(tasks/sync/properties.py) and the model fills the columns (tasks/model.py). The older
`people_properties: [name]` is the same with the property's own name on every source that
has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# which raw objects feed each configurable crm table, per CRM; a person's Salesforce field
# is read from Contact, and from Lead where the Lead object has that field too
SOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "people": {"hubspot": ("contacts",), "salesforce": ("Contact", "Lead")},
    "companies": {"hubspot": ("companies",), "salesforce": ("Account",)},
    "opportunities": {"hubspot": ("deals",), "salesforce": ("Opportunity",)},
}
# the sObjects a field is read from only when they have it
OPTIONAL_SOURCES = frozenset({("people", "Lead")})

ColumnName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$")]
PropertyName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class ColumnSource(BaseModel):
    """Where one configured column comes from: a HubSpot property, a Salesforce field."""

    model_config = ConfigDict(extra="forbid")
    hubspot: PropertyName | None = None
    salesforce: PropertyName | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ColumnSource:
        if self.hubspot is None and self.salesforce is None:
            raise ValueError("names no source; write e.g. {hubspot: jobtitle, salesforce: Title}")
        return self


class ColumnSettings(BaseModel):
    """`columns:` as written: extra crm.* columns per table."""

    model_config = ConfigDict(extra="forbid")
    people: dict[ColumnName, ColumnSource] = Field(default_factory=dict)
    companies: dict[ColumnName, ColumnSource] = Field(default_factory=dict)
    opportunities: dict[ColumnName, ColumnSource] = Field(default_factory=dict)


@dataclass(frozen=True)
class CustomColumn:
    """One extra crm.<table> column and the property each CRM feeds it from.

    `required`: the CRM must have the property (a `columns:` entry); a `people_properties`
    entry is read from whichever synced source has a column of that name.
    """

    table: str
    name: str
    hubspot: str | None = None
    salesforce: str | None = None
    required: bool = True

    def field_of(self, crm: str) -> str | None:
        return self.hubspot if crm == "hubspot" else self.salesforce

    def origin(self) -> str:
        """Where the column comes from, as `seqguard schema` shows it."""
        parts = [f"{crm} {obj}.{self.field_of(crm)}"
                 for crm, objects in SOURCES[self.table].items() if self.field_of(crm)
                 for obj in objects]
        return "configured: " + ", ".join(parts) if self.required else \
            "people_properties: the synced contact property of that name"


def custom_columns(settings: ColumnSettings | None,
                   people_properties: list[str]) -> tuple[CustomColumn, ...]:
    """Every configured column: `columns:` first, then the older `people_properties`."""
    found = [CustomColumn(table, name, source.hubspot, source.salesforce)
             for table in SOURCES for name, source in
             (getattr(settings, table).items() if settings else ())]
    taken = {(c.table, c.name) for c in found}
    found += [CustomColumn("people", name.lower(), name, name, required=False)
              for name in people_properties if ("people", name.lower()) not in taken]
    return tuple(found)


def pulled(columns: tuple[CustomColumn, ...], crm: str,
           configured: dict[str, list[str]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """What one CRM's sync pulls beyond its defaults: (required, optional) names per object.

    Required: the `crms.<crm>.properties/fields` lists plus every `columns:` source (the
    CRM must have them); optional: a person's Salesforce field on Lead, pulled where the
    Lead object has it.
    """
    required = {obj: list(names) for obj, names in configured.items()}
    optional: dict[str, list[str]] = {}
    for column in columns:
        name = column.field_of(crm)
        if not column.required or name is None:
            continue
        for obj in SOURCES[column.table][crm]:
            target = optional if (column.table, obj) in OPTIONAL_SOURCES else required
            if name not in target.setdefault(obj, []):
                target[obj].append(name)
    return required, optional
