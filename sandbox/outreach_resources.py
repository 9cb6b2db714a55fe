"""The Outreach resources the sandbox serves, as SQL over the shared sequencer, and the
JSON:API collection query (filter, sort, sparse fieldsets, cursor paging) over them.

Which attributes and relationships each resource has, and which are filterable and
sortable, follow Outreach's API reference (https://developers.outreach.io/api/reference/,
one page per resource: Prospect, Sequence, Sequence-Step, Mailbox, Sequence-State,
Mailing) and the OpenAPI description Outreach publishes
(https://api.outreach.io/api/v2/schema/openapi.json). Each resource serves a subset of its
documented attributes, nothing the reference lacks. The query parameters are those of
"Making requests" (https://developers.outreach.io/api/making-requests/): `filter[attr]`
with an exact value, a list (`1,2,3`) or a range (`x..y`, `inf`, `neginf`),
`filter[relationship][id]`, `sort` (`-` descending), `fields[type]`, `page[size]` (at most
1000; default 50), `page[after]` (an opaque cursor, followed through `links.next`) and
`count`. Anything else (`include`, `newFilterSyntax`, offset paging, an attribute that is
not filterable) is refused with JSON:API's 400 rather than imitated half-way.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from sandbox.state import SandboxState

SEQUENCER = "outreach"
PAGE_DEFAULT, PAGE_MAX = 50, 1000
OPEN_STATES = ("active", "pending", "paused", "failed", "bounced", "disabled")


class OutreachError(Exception):
    """An answer in JSON:API's error shape: `{"errors": [{"id", "title", "detail"}]}`
    (the reference's error schema; a field at fault adds `source.pointer`)."""

    def __init__(self, status: int, error_id: str, title: str, detail: str,
                 pointer: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        error: dict[str, Any] = {"id": error_id, "title": title, "detail": detail}
        if pointer:
            error["source"] = {"pointer": pointer}
        self.body = {"errors": [error]}


def bad_request(detail: str) -> OutreachError:
    # JSON:API 1.0, "Query Parameters": a parameter the server cannot process is 400
    # (https://jsonapi.org/format/1.0/#query-parameters); the id is the sandbox's
    return OutreachError(400, "badRequest", "Bad Request", detail)


def not_found(kind: str, record_id: Any) -> OutreachError:
    # "Making requests", Fetch an Individual Resource: resourceNotFound
    return OutreachError(404, "resourceNotFound", "Resource Not Found",
                         f"Could not find '{kind}' with ID '{record_id}'.")


def seq_num_sql(column: str) -> str:
    """Outreach ids are integers: a sandbox sequence id that is a number keeps it, any
    other gets a number derived from it."""
    return (f"(case when regexp_full_match({column}, '[0-9]{{1,12}}') "
            f"then cast({column} as bigint) else cast(hash({column}) % 1000000000000 "
            "as bigint) end)")


def step_id_sql(sequence_column: str, k: str) -> str:
    """Step k (1-based) of a sequence: its own sequenceStep id."""
    return f"({seq_num_sql(sequence_column)} * 1000 + {k})"


# attribute kinds: how a value is filtered and rendered
TEXT, INT, BOOL, TIME, LIST = "text", "int", "bool", "time", "list"


@dataclass(frozen=True)
class Resource:
    type: str                              # JSON:API type, e.g. "sequenceState"
    plural: str                            # path, e.g. "sequenceStates"
    sql: str                               # one row per record: id, attributes, *_id
    attributes: dict[str, str]             # served attribute -> kind
    filterable: frozenset[str]
    sortable: frozenset[str]
    # to-one relationship -> (type, column holding the id); filterable by [id]
    relationships: dict[str, tuple[str, str]] = field(default_factory=dict)
    # to-many relationship -> the filter of the related collection naming this record
    related: dict[str, tuple[str, str]] = field(default_factory=dict)


PROSPECTS = Resource(
    "prospect", "prospects",
    f"""select id, [email] as emails, opted_out as "optedOut", opted_out_at as "optedOutAt",
               created_at as "createdAt", updated_at as "updatedAt"
        from sb_people where sequencer = '{SEQUENCER}'""",
    {"emails": LIST, "optedOut": BOOL, "optedOutAt": TIME, "createdAt": TIME,
     "updatedAt": TIME},
    filterable=frozenset({"id", "emails", "createdAt", "updatedAt"}),
    sortable=frozenset({"id", "createdAt", "updatedAt"}),
    related={"sequenceStates": ("sequenceStates", "prospect"),
             "mailings": ("mailings", "prospect")},
)

SEQUENCES = Resource(
    "sequence", "sequences",
    f"""select {seq_num_sql('id')} as id, name, true as enabled,
               cast(json_array_length(steps) as bigint) as "sequenceStepCount",
               'interval' as "sequenceType", created_at as "createdAt",
               created_at as "updatedAt"
        from sb_sequences""",
    {"name": TEXT, "enabled": BOOL, "sequenceStepCount": INT, "sequenceType": TEXT,
     "createdAt": TIME, "updatedAt": TIME},
    filterable=frozenset({"id", "name", "createdAt", "updatedAt"}),
    sortable=frozenset({"id", "name", "createdAt", "updatedAt"}),
    related={"sequenceSteps": ("sequenceSteps", "sequence"),
             "sequenceStates": ("sequenceStates", "sequence")},
)

SEQUENCE_STEPS = Resource(
    "sequenceStep", "sequenceSteps",
    f"""with steps as (
            select id as sb_id, created_at, steps,
                   unnest(range(1, cast(json_array_length(steps) as bigint) + 1)) as k
            from sb_sequences
        )
        select {step_id_sql('sb_id', 'k')} as id, k as "order", 'auto_email' as "stepType",
               cast(json_extract(steps, '$[' || (k - 1) || '].after_minutes') as bigint) * 60
                   as "interval",
               created_at as "createdAt", created_at as "updatedAt",
               {seq_num_sql('sb_id')} as sequence_id
        from steps""",
    {"order": INT, "stepType": TEXT, "interval": INT, "createdAt": TIME, "updatedAt": TIME},
    filterable=frozenset({"id", "order", "stepType", "createdAt", "updatedAt"}),
    sortable=frozenset({"id", "order", "stepType", "createdAt", "updatedAt"}),
    relationships={"sequence": ("sequence", "sequence_id")},
)

MAILBOXES = Resource(
    "mailbox", "mailboxes",
    f"""select id, email, created_at as "createdAt", created_at as "updatedAt"
        from sb_senders where sequencer = '{SEQUENCER}'""",
    {"email": TEXT, "createdAt": TIME, "updatedAt": TIME},
    filterable=frozenset({"id", "email", "createdAt", "updatedAt"}),
    sortable=frozenset({"id", "email", "createdAt", "updatedAt"}),
)

# the shared sequencer's states in Outreach's words: a bounce leaves an enrollment stopped
# ("bounced", not finished), an unsubscribe ends it "opted_out", and the finish action, a
# reply and the last step all end it "finished"
SEQUENCE_STATES = Resource(
    "sequenceState", "sequenceStates",
    f"""with counts as (
            select enrollment_id, count(*) filter (where kind = 'sent') as sent,
                   count(*) filter (where kind = 'reply') as replies,
                   count(*) filter (where kind = 'bounce') as bounces,
                   count(*) filter (where kind = 'unsubscribe') as opt_outs,
                   max(occurred_at) filter (where kind = 'reply') as replied_at
            from sb_activity where sequencer = '{SEQUENCER}' and enrollment_id is not null
            group by enrollment_id
        )
        select e.id,
               case when e.state = 'active' then 'active'
                    when e.state = 'paused' and e.reason = 'bounced' then 'bounced'
                    when e.state = 'paused' then 'paused'
                    when e.state = 'finished' and e.reason = 'opted_out' then 'opted_out'
                    else 'finished' end as state,
               e.enrolled_at as "createdAt", e.updated_at as "updatedAt",
               c.replied_at as "repliedAt", coalesce(c.sent, 0) as "deliverCount",
               coalesce(c.replies, 0) as "replyCount", coalesce(c.bounces, 0) as "bounceCount",
               coalesce(c.opt_outs, 0) as "optOutCount",
               cast(e.contact_id as bigint) as prospect_id,
               {seq_num_sql('e.sequence_id')} as sequence_id,
               case when json_array_length(s.steps) > 0 then {step_id_sql(
                   'e.sequence_id', 'least(e.step + 1, json_array_length(s.steps))')} end
                   as sequence_step_id,
               m.id as mailbox_id
        from sb_enrollments e
        join sb_sequences s on s.id = e.sequence_id
        left join sb_senders m on m.sequencer = '{SEQUENCER}' and m.email = lower(e.sender)
        left join counts c on c.enrollment_id = e.id
        where e.crm = '{SEQUENCER}'""",
    {"state": TEXT, "createdAt": TIME, "updatedAt": TIME, "repliedAt": TIME,
     "deliverCount": INT, "replyCount": INT, "bounceCount": INT, "optOutCount": INT},
    filterable=frozenset({"id", "state", "createdAt", "updatedAt", "repliedAt",
                          "deliverCount", "replyCount"}),
    sortable=frozenset({"id", "state", "createdAt", "updatedAt", "repliedAt"}),
    relationships={"prospect": ("prospect", "prospect_id"),
                   "sequence": ("sequence", "sequence_id"),
                   "sequenceStep": ("sequenceStep", "sequence_step_id"),
                   "mailbox": ("mailbox", "mailbox_id")},
    related={"mailings": ("mailings", "sequenceState")},
)

# one mailing per step sent; what recipients did answers it (sandbox/activity.py)
MAILINGS = Resource(
    "mailing", "mailings",
    f"""with answers as (
            select sent_id, max(occurred_at) filter (where kind = 'reply') as replied_at,
                   max(occurred_at) filter (where kind = 'bounce') as bounced_at,
                   max(occurred_at) filter (where kind = 'unsubscribe') as unsubscribed_at,
                   max(recorded_at) as recorded_at
            from sb_activity where sequencer = '{SEQUENCER}' and sent_id is not null
            group by sent_id
        )
        select t.id,
               case when a.bounced_at is not null then 'bounced'
                    when a.replied_at is not null then 'replied' else 'delivered' end as state,
               'sequence' as "mailingType", q.name || ' (step ' || t.step || ')' as subject,
               e.sender as "mailboxAddress", t.occurred_at as "deliveredAt",
               a.replied_at as "repliedAt", a.bounced_at as "bouncedAt",
               a.unsubscribed_at as "unsubscribedAt", t.recorded_at as "createdAt",
               greatest(t.recorded_at, coalesce(a.recorded_at, t.recorded_at)) as "updatedAt",
               t.person_id as prospect_id, {seq_num_sql('t.sequence_id')} as sequence_id,
               t.enrollment_id as sequence_state_id,
               {step_id_sql('t.sequence_id', 't.step')} as sequence_step_id,
               m.id as mailbox_id
        from sb_activity t
        left join answers a on a.sent_id = t.id
        left join sb_enrollments e on e.id = t.enrollment_id
        left join sb_sequences q on q.id = t.sequence_id
        left join sb_senders m on m.sequencer = '{SEQUENCER}' and m.email = lower(e.sender)
        where t.sequencer = '{SEQUENCER}' and t.kind = 'sent'""",
    {"state": TEXT, "mailingType": TEXT, "subject": TEXT, "mailboxAddress": TEXT,
     "deliveredAt": TIME, "repliedAt": TIME, "bouncedAt": TIME, "unsubscribedAt": TIME,
     "createdAt": TIME, "updatedAt": TIME},
    filterable=frozenset({"id", "state", "mailingType", "deliveredAt", "repliedAt",
                          "bouncedAt", "unsubscribedAt", "createdAt", "updatedAt"}),
    sortable=frozenset({"id", "state", "deliveredAt", "repliedAt", "bouncedAt",
                        "unsubscribedAt", "createdAt", "updatedAt"}),
    relationships={"prospect": ("prospect", "prospect_id"),
                   "sequence": ("sequence", "sequence_id"),
                   "sequenceState": ("sequenceState", "sequence_state_id"),
                   "sequenceStep": ("sequenceStep", "sequence_step_id"),
                   "mailbox": ("mailbox", "mailbox_id")},
)

RESOURCES = {r.plural: r for r in (PROSPECTS, SEQUENCES, SEQUENCE_STEPS, MAILBOXES,
                                   SEQUENCE_STATES, MAILINGS)}
BY_TYPE = {r.type: r for r in RESOURCES.values()}


def iso(value: datetime | None) -> str | None:
    """Outreach's timestamps: ISO 8601 in UTC with milliseconds, '...T14:15:22.000Z'."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_iso(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"{what}: '{text}' is not an ISO 8601 date and time") from None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def to_json(resource: Resource, row: dict[str, Any], base: str,
            fields: set[str] | None = None) -> dict[str, Any]:
    """One resource object: `{type, id, attributes, relationships, links}` (JSON:API)."""
    def wanted(name: str) -> bool:
        return fields is None or name in fields

    attributes = {name: _render(row[name], kind) for name, kind in resource.attributes.items()
                  if wanted(name)}
    relationships: dict[str, Any] = {}
    for name, (kind, column) in resource.relationships.items():
        if wanted(name):
            value = row[column]
            relationships[name] = {"data": None if value is None
                                   else {"type": kind, "id": int(value)}}
    for name, (plural, filter_name) in resource.related.items():
        if wanted(name):
            relationships[name] = {"links": {
                "related": f"{base}/{plural}?filter[{filter_name}][id]={row['id']}"}}
    body: dict[str, Any] = {"type": resource.type, "id": int(row["id"]),
                            "attributes": attributes}
    if relationships:
        body["relationships"] = relationships
    body["links"] = {"self": f"{base}/{resource.plural}/{row['id']}"}
    return body


def _render(value: Any, kind: str) -> Any:
    if kind == TIME:
        return iso(value)
    if kind == LIST:
        return list(value or [])
    return value


def read_one(state: SandboxState, resource: Resource, record_id: str) -> dict[str, Any]:
    if not record_id.isdigit():
        raise not_found(resource.type, record_id)
    rows = state.rows(f"select * from ({resource.sql}) r where id = ?", [int(record_id)])
    if not rows:
        raise not_found(resource.type, record_id)
    return rows[0]


@dataclass
class Query:
    """A collection request, checked: SQL conditions and their values, order, paging."""

    conditions: list[str] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    fields: set[str] | None = None
    size: int = PAGE_DEFAULT
    offset: int = 0
    count: bool = False


def parse_query(resource: Resource, request: Request) -> Query:
    query = Query()
    for key, value in request.query_params.multi_items():
        if key.startswith("filter[") and key.endswith("]"):
            _filter(resource, query, key[len("filter["):-1], value)
        elif key == "sort":
            query.order = [_sort(resource, item) for item in value.split(",") if item]
        elif key == f"fields[{resource.type}]":
            names = {n for n in value.split(",") if n}
            known = set(resource.attributes) | set(resource.relationships) | set(
                resource.related)
            if names - known:
                raise bad_request(f"fields[{resource.type}]: {', '.join(sorted(names - known))}"
                                  f" is not a field of {resource.type}")
            query.fields = names
        elif key == "page[size]":
            if not value.isdigit() or not 1 <= int(value) <= PAGE_MAX:
                raise bad_request(f"page[size] must be a number from 1 to {PAGE_MAX}")
            query.size = int(value)
        elif key == "page[after]":
            query.offset = decode_cursor(value)
        elif key == "count":
            if value not in ("true", "false"):
                raise bad_request("count must be true or false")
            query.count = value == "true"
        else:
            raise bad_request(f"the query parameter '{key}' is not supported here")
    return query


def _filter(resource: Resource, query: Query, name: str, value: str) -> None:
    if name.endswith("][id"):
        relationship = name[:-len("][id")]
        if relationship not in resource.relationships:
            raise bad_request(f"filter[{name}]: {resource.type} cannot be filtered by "
                              f"{relationship}")
        column, kind = resource.relationships[relationship][1], INT
    elif name in resource.filterable:
        column, kind = name, INT if name == "id" else resource.attributes[name]
    else:
        raise bad_request(f"filter[{name}]: {name} is not a filterable attribute of "
                          f"{resource.type}")
    quoted = f'r."{column}"'
    if ".." in value:
        low, _, high = value.partition("..")
        for bound, operator in ((low, ">="), (high, "<=")):
            if bound not in ("inf", "neginf", ""):
                query.conditions.append(f"{quoted} {operator} ?")
                query.values.append(_typed(bound, kind, f"filter[{name}]"))
        return
    items = [_typed(v, kind, f"filter[{name}]") for v in value.split(",")]
    if kind == LIST:
        query.conditions.append(f"list_has_any({quoted}, ?::varchar[])")
    else:
        query.conditions.append(f"{quoted} in (select unnest(?))")
    query.values.append(items)


def _typed(text: str, kind: str, what: str) -> Any:
    if kind == INT:
        if not text.strip().lstrip("-").isdigit():
            raise bad_request(f"{what}: '{text}' is not a number")
        return int(text)
    if kind == TIME:
        return parse_iso(text, what)
    if kind == BOOL:
        if text not in ("true", "false"):
            raise bad_request(f"{what}: '{text}' is not true or false")
        return text == "true"
    return text.strip().lower() if kind == LIST else text


def _sort(resource: Resource, item: str) -> str:
    name = item.lstrip("-")
    if name not in resource.sortable:
        raise bad_request(f"sort: {name} is not a sortable attribute of {resource.type}")
    return f'r."{name}" {"desc" if item.startswith("-") else "asc"} nulls first'


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"outreach:{offset}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    kind, _, offset = text.partition(":")
    if kind != "outreach" or not offset.isdigit():
        raise bad_request(f"page[after]: '{token}' is not a cursor this collection gave")
    return int(offset)


def read_page(state: SandboxState, resource: Resource, query: Query) -> tuple[list[dict], bool,
                                                                               int | None]:
    """The page's rows, whether more follow, and the count when asked for."""
    where = " and ".join(query.conditions) or "true"
    order = ", ".join([*query.order, "r.id asc"])
    rows = state.rows(
        f"select * from ({resource.sql}) r where {where} order by {order} limit ? offset ?",
        [*query.values, query.size + 1, query.offset])
    total = None
    if query.count:
        total = state.rows(f"select count(*) as n from ({resource.sql}) r where {where}",
                           query.values)[0]["n"]
    return rows[:query.size], len(rows) > query.size, total
