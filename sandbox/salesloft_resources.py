"""Salesloft's v2 records over the sandbox's tables, and the listing rules every index
endpoint shares (filtering, paging, sorting), as Salesloft documents them.

Records (fields from Salesloft's published API definition, developers.salesloft.com/
v2_api_def.json, components.schemas; each is served with the fields the sandbox can fill
truthfully and no other):
- CadenceMembership: one per person and cadence, "If a person is added to a cadence and
  re-added to the same cadence in the future, there is a single membership record"
  (https://developers.salesloft.com/docs/api/cadence-memberships-index/); `current_state`
  one of the documented processing, staged, active, scheduled, completed, removed,
  removed_no_action, reassigned; `counts` (sent_emails, replies, bounces, ...).
- Cadence, Step (`day`, `step_number`: "The number of the step for this day"), User,
  Person (`do_not_contact`, `bouncing`, `last_completed_step`, `last_completed_step_cadence`)
  and Email (`status`, `bounced`, `counts.replies`, `recipient`, `cadence`, `step`).
Related records are EmbeddedResource `{"_href", "id"}`. Times are ISO 8601 with
microseconds and an offset, as the definition's examples ("2023-01-01T00:00:00.000000-05:00").

Listing ("Filtering, Paging, Sorting",
https://developers.salesloft.com/docs/platform/api-basics/filtering-paging-sorting/, and
"Request & Response Format",
https://developers.salesloft.com/docs/platform/api-basics/request-response-format/):
answers are `{"metadata": {"filtering", "paging", "sorting"}, "data": [...]}`; paging is
`page` (from 1) and `per_page` (1..100, default 25; a value out of range is silently
corrected to the default and echoed), `metadata.paging` {per_page, current_page,
next_page, prev_page} plus total_pages/total_count with `include_paging_counts`; sorting
is `sort_by` / `sort_direction` (ASC, DESC; an invalid one is a 422). Filters are the
parameters each endpoint documents; a name it does not document is silently ignored (as
Salesloft does), a documented filter the sandbox does not imitate is refused with a 422
saying so, never answered wrongly. Array filters take the definition's form
(`style: form, explode: false`: `ids=1,2`) and the bracket form (`ids[]=1&ids[]=2`); time
filters take `updated_at[gt|gte|lt|lte]=<iso8601>`. Errors are the documented envelope:
`{"error": "..."}` on 403/404, `{"errors": {field: [messages]}}` on 422.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request

from sandbox.state import SandboxState, parse_time

SEQUENCER = "salesloft"
BASE = "/v2"
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 25
# a sequence is a Salesloft cadence when its id is one Salesloft could have (an integer);
# its steps get ids cadence_id * 1000 + position
CADENCE_ID = "regexp_full_match(s.id, '[1-9][0-9]{0,14}')"
STEP_ID = "cast({cadence} as bigint) * 1000 + {k}"
USER_NAMESPACE = uuid.UUID("6f0e1a8e-3c55-4c6e-9d0a-5a1e5c0f7a11")


class SalesloftError(Exception):
    """An answer in Salesloft's documented error envelope."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def not_found(what: str = "Not Found") -> SalesloftError:
    return SalesloftError(404, {"error": what})


def invalid(attribute: str, message: str) -> SalesloftError:
    return SalesloftError(422, {"errors": {attribute: [message]}})


# ---- the records, as SQL over the sandbox tables ----------------------------------------

# the shared sequencer's enrollments at Salesloft, one membership per (person, cadence);
# `{scope}` narrows the enrollments and activity read (alias e: contact_id, sequence_id)
MEMBERSHIPS_SQL = f"""
with
pairs as (
    select contact_id, sequence_id, min(id) as id, min(enrolled_at) as created_at,
           max(updated_at) as updated_at, arg_max(enrolled_at, id) as added_at,
           arg_max(state, id) as state, arg_max(step, id) as step,
           arg_max(reason, id) as reason, arg_max(sender, id) as sender
    from sb_enrollments e
    where crm = '{SEQUENCER}' and regexp_full_match(sequence_id, '[1-9][0-9]{{0,14}}')
      and ({{scope}})
    group by all
),
activity as (
    select contact_id, sequence_id,
           count(*) filter (where kind = 'sent') as sent_emails,
           count(*) filter (where kind = 'reply') as replies,
           count(*) filter (where kind = 'bounce') as bounces,
           max(recorded_at) as recorded_at
    from (select cast(person_id as varchar) as contact_id, sequence_id, kind, recorded_at
          from sb_activity where sequencer = '{SEQUENCER}' and sequence_id is not null) e
    where ({{scope}})
    group by all
),
final as (
    select p.id, cast(p.contact_id as bigint) as person_id,
           cast(p.sequence_id as bigint) as cadence_id, u.id as user_id,
           p.created_at, p.added_at,
           greatest(p.updated_at, coalesce(a.recorded_at, p.updated_at)) as updated_at,
           p.state in ('active', 'paused') as currently_on_cadence,
           -- the shared sequencer's truth in Salesloft's documented states: paused (a
           -- bounce, the cadence keeping bounced people) is on the cadence but idle
           case when p.state = 'active' and p.step = 0 then 'staged'
                when p.state = 'active' then 'scheduled'
                when p.state = 'paused' then 'active'
                when p.state = 'finished' and p.reason in ('replied', 'opted_out')
                    then 'removed'
                when p.state = 'finished' then 'completed'
                when p.step = 0 then 'removed_no_action'
                else 'removed' end as current_state,
           coalesce(a.sent_emails, 0) as sent_emails, coalesce(a.replies, 0) as replies,
           coalesce(a.bounces, 0) as bounces
    from pairs p
    left join sb_senders u on u.sequencer = '{SEQUENCER}' and u.email = lower(p.sender)
    left join activity a on a.contact_id = p.contact_id and a.sequence_id = p.sequence_id
)
select * from final
"""

CADENCES_SQL = f"""
select cast(s.id as bigint) as id, s.name, s.created_at, s.created_at as updated_at,
       true as team_cadence, true as shared, false as archived, true as people_addable
from sb_sequences s where {CADENCE_ID}
"""

# each step of a sandbox sequence is an automated email, due `after_minutes` after the one
# before; its day counts from day 1 at enrollment
STEPS_SQL = f"""
with
steps as (
    select s.id as cadence_id, s.created_at,
           unnest(range(1, cast(json_array_length(s.steps) as bigint) + 1)) as k,
           unnest(cast(json_extract(s.steps, '$[*].after_minutes') as bigint[])) as minutes
    from sb_sequences s where {CADENCE_ID}
),
timed as (
    select *, sum(minutes) over (partition by cadence_id order by k) as at_minute
    from steps
),
final as (
    select {STEP_ID.format(cadence='cadence_id', k='k')} as id,
           cast(cadence_id as bigint) as cadence_id, k,
           1 + cast(floor(at_minute / 1440) as bigint) as day,
           row_number() over (partition by cadence_id, floor(at_minute / 1440)
                              order by k) as step_number,
           'email' as type, created_at, created_at as updated_at
    from timed
)
select * from final
"""

USERS_SQL = f"""
select id, email, created_at, created_at as updated_at, true as active
from sb_senders where sequencer = '{SEQUENCER}'
"""

# a person's last completed step is the step of the latest email a cadence sent them
PEOPLE_SQL = f"""
with
last_sent as (
    select person_id, sequence_id, step, occurred_at
    from sb_activity
    where sequencer = '{SEQUENCER}' and kind = 'sent'
    qualify row_number() over (partition by person_id order by occurred_at desc, id desc) = 1
),
on_cadence as (
    select cast(contact_id as bigint) as person_id, list(distinct sequence_id) as cadences
    from sb_enrollments where crm = '{SEQUENCER}' and state in ('active', 'paused')
    group by all
),
final as (
    select p.id, p.email as email_address, p.opted_out as do_not_contact,
           p.bounced as bouncing, p.created_at,
           greatest(p.updated_at, coalesce(l.occurred_at, p.updated_at)) as updated_at,
           case when regexp_full_match(l.sequence_id, '[1-9][0-9]{{0,14}}')
                then {STEP_ID.format(cadence='l.sequence_id', k='l.step')} end
               as last_completed_step,
           case when regexp_full_match(l.sequence_id, '[1-9][0-9]{{0,14}}')
                then cast(l.sequence_id as bigint) end as last_completed_step_cadence,
           coalesce(c.cadences, []) as cadence_ids
    from sb_people p
    left join last_sent l on l.person_id = p.id
    left join on_cadence c on c.person_id = p.id
    where p.sequencer = '{SEQUENCER}'
)
select * from final
"""

# every email a cadence sent (the activity's `sent` rows) with what its recipient did
EMAILS_SQL = f"""
with
answers as (
    select sent_id, count(*) filter (where kind = 'reply') as replies,
           bool_or(kind = 'bounce') as bounced, max(recorded_at) as recorded_at
    from sb_activity where sequencer = '{SEQUENCER}' and sent_id is not null
    group by all
),
final as (
    select a.id, a.person_id, a.email as recipient_email_address,
           case when regexp_full_match(a.sequence_id, '[1-9][0-9]{{0,14}}')
                then cast(a.sequence_id as bigint) end as cadence_id,
           case when regexp_full_match(a.sequence_id, '[1-9][0-9]{{0,14}}')
                then {STEP_ID.format(cadence='a.sequence_id', k='a.step')} end as step_id,
           u.id as user_id, 'sent' as status, a.occurred_at as sent_at,
           a.occurred_at as created_at,
           greatest(a.recorded_at, coalesce(x.recorded_at, a.recorded_at)) as updated_at,
           coalesce(x.bounced, false) as bounced, coalesce(x.replies, 0) as replies,
           a.sequence_id is null as one_off
    from sb_activity a
    left join answers x on x.sent_id = a.id
    left join sb_enrollments e on e.id = a.enrollment_id
    left join sb_senders u on u.sequencer = '{SEQUENCER}' and u.email = lower(e.sender)
    where a.sequencer = '{SEQUENCER}' and a.kind = 'sent'
)
select * from final
"""


# ---- as JSON ------------------------------------------------------------------------------

def timestamp(value: datetime | None) -> str | None:
    """"2023-01-01T00:00:00.000000-05:00" as the definition's examples write them (UTC)."""
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"


def embedded(root: str, plural: str, record_id: Any) -> dict[str, Any] | None:
    """EmbeddedResource: `_href` "pointed at your API version", and the id."""
    if record_id is None:
        return None
    return {"_href": f"{root}{BASE}/{plural}/{record_id}", "id": int(record_id)}


def membership_json(row: dict, root: str) -> dict[str, Any]:
    return {
        "id": row["id"], "added_at": timestamp(row["added_at"]),
        "created_at": timestamp(row["created_at"]), "updated_at": timestamp(row["updated_at"]),
        "person_deleted": False, "currently_on_cadence": row["currently_on_cadence"],
        "current_state": row["current_state"],
        "cadence": embedded(root, "cadences", row["cadence_id"]),
        "person": embedded(root, "people", row["person_id"]),
        "user": embedded(root, "users", row["user_id"]),
        # the sandbox has no actions (tasks for a rep): none is the latest
        "latest_action": None,
        "counts": {"sent_emails": row["sent_emails"], "replies": row["replies"],
                   "bounces": row["bounces"], "views": 0, "clicks": 0, "calls": 0},
    }


def cadence_json(row: dict, root: str) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], "created_at": timestamp(row["created_at"]),
        "updated_at": timestamp(row["updated_at"]), "archived_at": None,
        "team_cadence": row["team_cadence"], "shared": row["shared"], "draft": False,
        "cadence_function": "outbound", "tags": [],
        # the shared sequencer removes people who reply (finished, sandbox/activity.py) and
        # keeps people whose email bounced (paused)
        "remove_replies_enabled": True, "remove_bounces_enabled": False,
        "opt_out_link_included": True,
    }


def step_json(row: dict, root: str) -> dict[str, Any]:
    return {
        "id": row["id"], "cadence": embedded(root, "cadences", row["cadence_id"]),
        "day": row["day"], "step_number": row["step_number"],
        "name": f"Email {row['k']}",
        "display_name": f"Day {row['day']}: Step {row['step_number']} - Email",
        "type": row["type"], "disabled": False, "multitouch_enabled": False,
        "created_at": timestamp(row["created_at"]), "updated_at": timestamp(row["updated_at"]),
    }


def user_json(row: dict, root: str) -> dict[str, Any]:
    name = row["email"].split("@", 1)[0]
    return {
        "id": row["id"], "guid": str(uuid.uuid5(USER_NAMESPACE, f"{SEQUENCER}:{row['id']}")),
        "email": row["email"], "name": name, "active": row["active"],
        "created_at": timestamp(row["created_at"]), "updated_at": timestamp(row["updated_at"]),
    }


def person_json(row: dict, root: str) -> dict[str, Any]:
    return {
        "id": row["id"], "email_address": row["email_address"],
        "display_name": row["email_address"], "do_not_contact": row["do_not_contact"],
        "bouncing": row["bouncing"], "created_at": timestamp(row["created_at"]),
        "updated_at": timestamp(row["updated_at"]),
        "cadences": [embedded(root, "cadences", c) for c in row["cadence_ids"]
                     if str(c).isdigit()],
        "last_completed_step": embedded(root, "steps", row["last_completed_step"]),
        "last_completed_step_cadence": embedded(root, "cadences",
                                                row["last_completed_step_cadence"]),
    }


def email_json(row: dict, root: str) -> dict[str, Any]:
    return {
        "id": row["id"], "created_at": timestamp(row["created_at"]),
        "updated_at": timestamp(row["updated_at"]), "sent_at": timestamp(row["sent_at"]),
        "send_after": None, "status": row["status"], "bounced": row["bounced"],
        "recipient": embedded(root, "people", row["person_id"]),
        "recipient_email_address": row["recipient_email_address"],
        "cadence": embedded(root, "cadences", row["cadence_id"]),
        "step": embedded(root, "steps", row["step_id"]),
        "user": embedded(root, "users", row["user_id"]),
        "counts": {"replies": row["replies"], "views": 0, "clicks": 0, "attachments": 0,
                   "unique_devices": 0, "unique_locations": 0},
    }


# ---- listings ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Filter:
    """One documented filter: its kind (ids, int, ints, bool, time, texts, emails,
    cadences), its column, and (memberships) the condition that narrows `{scope}`."""

    kind: str
    column: str
    scope: str | None = None


@dataclass(frozen=True)
class Listing:
    """One index endpoint: its rows, documented filters and sort keys, and record shape."""

    sql: str
    to_json: Callable[[dict, str], dict[str, Any]]
    filters: dict[str, Filter]
    sorts: dict[str, str]                      # documented sort_by the sandbox imitates
    default_sort: str
    not_imitated: tuple[str, ...] = ()         # documented filters it does not imitate
    sorts_not_imitated: tuple[str, ...] = ()   # documented sort keys it does not imitate
    paged_by_default: bool = True              # users: "only paginated if page is defined"
    mirror: bool = False                       # needs the CRM's people and owners mirrored


def _ids(name: str = "id") -> Filter:
    return Filter("ids", name)


UPDATED = Filter("time", "updated_at")

LISTINGS: dict[str, Listing] = {
    # List cadence memberships (cadence-memberships-index)
    "cadence_memberships": Listing(
        MEMBERSHIPS_SQL, membership_json,
        {"ids": _ids(),
         "person_id": Filter("int", "person_id", "e.contact_id = cast(${key} as varchar)"),
         "cadence_id": Filter("int", "cadence_id", "e.sequence_id = cast(${key} as varchar)"),
         "updated_at": UPDATED,
         "currently_on_cadence": Filter("bool", "currently_on_cadence")},
        {"added_at": "added_at", "updated_at": "updated_at"}, "updated_at"),
    # List cadences (cadences-index)
    "cadences": Listing(
        CADENCES_SQL, cadence_json,
        {"ids": _ids(), "updated_at": UPDATED, "team_cadence": Filter("bool", "team_cadence"),
         "shared": Filter("bool", "shared"), "people_addable": Filter("bool", "people_addable"),
         "name": Filter("texts", "name"), "archived": Filter("bool", "archived")},
        {"created_at": "created_at", "updated_at": "updated_at", "name": "name"},
        "updated_at", not_imitated=("owned_by_guid", "group_ids")),
    # List steps (steps-index)
    "steps": Listing(
        STEPS_SQL, step_json,
        {"ids": _ids(), "cadence_id": Filter("int", "cadence_id"), "type": Filter("texts", "type")},
        {"created_at": "created_at", "updated_at": "updated_at"}, "updated_at",
        not_imitated=("has_due_actions",)),
    # List users (users-index): "Results are only paginated if the page parameter is defined"
    "users": Listing(
        USERS_SQL, user_json,
        {"ids": _ids(), "active": Filter("bool", "active")},
        {"id": "id", "email": "email"}, "id",
        not_imitated=("guid", "group_id", "role_id", "search", "has_crm_user",
                      "work_country"),
        sorts_not_imitated=("name", "group", "role"),
        paged_by_default=False, mirror=True),
    # List people (people-index)
    "people": Listing(
        PEOPLE_SQL, person_json,
        {"ids": _ids(), "updated_at": UPDATED,
         "email_addresses": Filter("emails", "email_address"),
         "do_not_contact": Filter("bool", "do_not_contact"),
         "bounced": Filter("bool", "bouncing"), "cadence_id": Filter("cadences", "cadence_ids")},
        {"created_at": "created_at", "updated_at": "updated_at"}, "updated_at",
        not_imitated=(
            "owned_by_guid", "person_stage_id", "crm_id", "owner_crm_id", "can_email",
            "can_call", "can_text", "account_id", "custom_fields", "import_id",
            "job_seniority", "tag_id", "owner_is_active", "starred_by_guid", "replied",
            "success", "eu_resident", "title", "country", "state", "city", "last_contacted",
            "created_at", "new", "phone_number", "locales", "owner_id", "_query"),
        sorts_not_imitated=(
            "last_contacted_at", "name", "title", "job_seniority", "call_count",
            "sent_emails", "clicked_emails", "replied_emails", "viewed_emails", "account",
            "cadence_stage_name"),
        mirror=True),
    # List emails (activities-emails-index); sort key send_time is the email's sent_at
    "activities/emails": Listing(
        EMAILS_SQL, email_json,
        {"ids": _ids(), "updated_at": UPDATED, "bounced": Filter("bool", "bounced"),
         "status": Filter("texts", "status"), "cadence_id": Filter("ints", "cadence_id"),
         "step_id": Filter("ints", "step_id"), "person_id": Filter("ints", "person_id"),
         "user_id": Filter("ints", "user_id"), "one_off": Filter("bool", "one_off"),
         "email_addresses": Filter("emails", "recipient_email_address"),
         "sent_at": Filter("time", "sent_at")},
        {"updated_at": "updated_at", "send_time": "sent_at"}, "updated_at",
        not_imitated=("crm_activity_id", "action_id", "scoped_fields", "personalization")),
}


@dataclass
class Query:
    where: list[str] = field(default_factory=list)
    scope: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    echo: dict[str, Any] = field(default_factory=dict)


def values_of(request: Request, name: str) -> list[str] | None:
    """An array filter's values: `name=a,b` (the definition's explode: false) and/or
    `name[]=a&name[]=b`; None when absent."""
    plain = request.query_params.getlist(name)
    bracket = request.query_params.getlist(f"{name}[]")
    if not plain and not bracket:
        return None
    return [v.strip() for item in plain for v in item.split(",") if v.strip()] + \
        [v.strip() for v in bracket if v.strip()]


def int_value(name: str, text: str) -> int:
    """A parameter's integer, or the documented 422 naming it."""
    try:
        return int(text)
    except ValueError:
        raise invalid(name, f"{text!r} is not an integer") from None


def _bool(name: str, text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise invalid(name, f"{text!r} must be true or false")
    return text.lower() == "true"


def _time(name: str, text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError:
        raise invalid(name, f"{text!r} is not an iso8601 timestamp") from None


TIME_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def filtering(request: Request, listing: Listing) -> Query:
    """The WHERE clauses (bound values only) of the documented filters in the request."""
    query = Query()
    for name in listing.not_imitated:
        if any(k == name or k.startswith(f"{name}[") for k in request.query_params):
            raise invalid(name, "is a documented filter the sandbox does not imitate")
    for name, spec in listing.filters.items():
        key = f"p{len(query.params)}"
        if spec.kind == "time":
            bounds = {op: request.query_params[f"{name}[{op}]"] for op in TIME_OPERATORS
                      if f"{name}[{op}]" in request.query_params}
            for op, text in bounds.items():
                key = f"p{len(query.params)}"
                query.params[key] = _time(name, text)
                query.where.append(f"{spec.column} {TIME_OPERATORS[op]} ${key}")
            if bounds:
                query.echo[name] = bounds
            continue
        if spec.kind in ("ids", "ints", "texts", "emails", "cadences"):
            values = values_of(request, name)
            if values is None:
                continue
            if spec.kind in ("ids", "ints", "cadences"):
                typed: list[Any] = [int_value(name, v) for v in values]
            else:
                typed = [v.lower() if spec.kind == "emails" else v for v in values]
            query.echo[name] = typed
            query.params[key] = [str(v) for v in typed] if spec.kind == "cadences" else typed
            column = f"lower({spec.column})" if spec.kind == "emails" else spec.column
            query.where.append(f"list_has_any({column}, ${key})" if spec.kind == "cadences"
                               else f"list_contains(${key}, {column})")
            continue
        text = request.query_params.get(name)
        if text is None:
            continue
        value = int_value(name, text) if spec.kind == "int" else _bool(name, text)
        query.echo[name] = value
        query.params[key] = value
        query.where.append(f"{spec.column} = ${key}")
        if spec.scope:
            query.scope.append(spec.scope.replace("{key}", key))
    return query


def scoped(sql: str, conditions: list[str]) -> str:
    """`sql` with its `{scope}` (if any) narrowed to `conditions`."""
    return sql.replace("{scope}", " and ".join(conditions) or "true")


@dataclass(frozen=True)
class Page:
    number: int
    size: int | None  # None: every row (users without `page`)


def paging(request: Request, listing: Listing) -> Page:
    """`page` and `per_page`, out-of-range values corrected to the defaults."""
    if not listing.paged_by_default and "page" not in request.query_params:
        return Page(1, None)
    try:
        size = int(request.query_params.get("per_page", DEFAULT_PER_PAGE))
    except ValueError:
        size = DEFAULT_PER_PAGE
    try:
        number = int(request.query_params.get("page", 1))
    except ValueError:
        number = 1
    return Page(max(number, 1), size if 1 <= size <= MAX_PER_PAGE else DEFAULT_PER_PAGE)


def sorting(request: Request, listing: Listing) -> tuple[str, str]:
    sort_by = request.query_params.get("sort_by", listing.default_sort)
    if sort_by in listing.sorts_not_imitated:
        raise invalid("sort_by", f"{sort_by} is a documented sort key the sandbox does not "
                                 "imitate")
    if sort_by not in listing.sorts:
        raise invalid("sort_by", f"{sort_by} is not a valid sort key; use one of "
                                 f"{', '.join(listing.sorts)}")
    direction = request.query_params.get("sort_direction", "DESC").upper()
    if direction not in ("ASC", "DESC"):
        raise invalid("sort_direction", f"{direction} must be one of: ASC, DESC")
    return sort_by, direction


def listing_answer(state: SandboxState, request: Request, name: str) -> dict[str, Any]:
    """`{"metadata": {...}, "data": [...]}` for one index request."""
    listing = LISTINGS[name]
    query = filtering(request, listing)
    page = paging(request, listing)
    sort_by, direction = sorting(request, listing)
    nulls = "nulls first" if direction == "ASC" else "nulls last"
    where = " and ".join(query.where) or "true"
    order = f"{listing.sorts[sort_by]} {direction} {nulls}, id {direction}"
    limit = "" if page.size is None else \
        f"limit {page.size + 1} offset {(page.number - 1) * page.size}"
    sql = scoped(listing.sql, query.scope)
    rows = state.rows(f"select * from ({sql}) where {where} order by {order} {limit}",
                      query.params)
    more = page.size is not None and len(rows) > page.size
    rows = rows[:page.size] if page.size is not None else rows
    root = f"{request.url.scheme}://{request.url.netloc}"
    paging_meta: dict[str, Any] = {
        "per_page": page.size if page.size is not None else len(rows),
        "current_page": page.number, "next_page": page.number + 1 if more else None,
        "prev_page": page.number - 1 if page.number > 1 else None}
    if request.query_params.get("include_paging_counts", "").lower() == "true":
        total = state.rows(f"select count(*) as n from ({sql}) where {where}",
                           query.params)[0]["n"]
        size = page.size or max(total, 1)
        paging_meta |= {"total_count": total, "total_pages": -(-total // size)}
    return {"metadata": {"filtering": query.echo, "paging": paging_meta,
                         "sorting": {"sort_by": sort_by,
                                     "sort_direction": f"{direction} {nulls.upper()}"}},
            "data": [listing.to_json(r, root) for r in rows]}


def one_record(state: SandboxState, request: Request, name: str, record_id: int) -> dict:
    """`{"data": {...}}` for `GET /v2/<name>/{id}`, or the documented 404."""
    listing = LISTINGS[name]
    row = membership(state, record_id) if name == "cadence_memberships" else next(iter(
        state.rows(f"select * from ({scoped(listing.sql, [])}) where id = $id",
                   {"id": record_id})), None)
    if row is None:
        raise not_found()
    root = f"{request.url.scheme}://{request.url.netloc}"
    return {"data": listing.to_json(row, root)}


def membership(state: SandboxState, membership_id: int | None = None, *,
               person_id: int | None = None, cadence_id: int | None = None) -> dict | None:
    """One membership, by its id (its first enrollment's) or by person and cadence."""
    if membership_id is not None:
        pair = state.rows(f"select contact_id, sequence_id from sb_enrollments "
                          f"where id = $id and crm = '{SEQUENCER}'", {"id": membership_id})
        if not pair:
            return None
        person_id, cadence_id = int(pair[0]["contact_id"]), int(pair[0]["sequence_id"])
    rows = state.rows(
        f"select * from ({scoped(MEMBERSHIPS_SQL, ['e.contact_id = $p', 'e.sequence_id = $c'])})",
        {"p": str(person_id), "c": str(cadence_id)})
    found = rows[0] if rows else None
    return found if found and (membership_id is None or found["id"] == membership_id) else None
