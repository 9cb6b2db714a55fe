"""Apollo's "Search for Outreach Emails" over what the sandbox's Apollo recorded.

`GET /api/v1/emailer_messages/search` (https://docs.apollo.io/reference/search-for-outreach-emails):
the emails sequences sent, newest first, filtered by `emailer_message_stats[]`,
`emailer_message_reply_classes[]`, sequences, senders, keywords and a date range (due or
completed); each an `emailer_message` as in "Check Email Stats"
(https://docs.apollo.io/reference/check-email-stats). A sandbox email is due and completed
when it is sent; what recipients did (sandbox/activity.py) gives its stats: bounced,
unsubscribed, a reply (which the sandbox does not classify: none_of_the_above).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request

from sandbox.apollo_params import (
    MAX_PAGE,
    Params,
    as_list,
    misconfigured,
    pagination,
    paging,
)
from sandbox.apollo_records import CAMPAIGN_ID_SQL, SEQUENCER, iso_offset, object_id, row_id
from sandbox.state import SandboxState, parse_time

# Search for Outreach Emails: its emailer_message_stats[] values, as the sandbox can tell
# them from what it records (sends, replies, bounces, unsubscribes; no opens or clicks)
MESSAGE_STATS = {
    "delivered": "not m.bounced", "not_opened": "not m.bounced", "bounced": "m.bounced",
    "unsubscribed": "m.unsubscribed", "scheduled": "false", "drafted": "false",
    "opened": "false", "clicked": "false", "demoed": "false", "spam_blocked": "false",
    "failed_other": "false",
}
# its emailer_message_reply_classes[]: a sandbox reply carries no classification
REPLY_CLASSES = ("willing_to_meet", "follow_up_question", "person_referral", "out_of_office",
                 "already_left_company_or_not_right_person", "not_interested", "unsubscribe",
                 "none_of_the_above")
UNCLASSIFIED = "none_of_the_above"

MESSAGES_SQL = f"""
with
events as (
    select sent_id, bool_or(kind = 'reply') as replied, bool_or(kind = 'bounce') as bounced,
           bool_or(kind = 'unsubscribe') as unsubscribed
    from sb_activity where sequencer = '{SEQUENCER}' and sent_id is not null group by sent_id
),
final as (
    select a.id, a.person_id, a.email, a.occurred_at, {CAMPAIGN_ID_SQL} as campaign,
           e.sender, o.id as sender_id, coalesce(v.replied, false) as replied,
           coalesce(v.bounced, false) as bounced,
           coalesce(v.unsubscribed, false) as unsubscribed
    from sb_activity a
    join sb_sequences s on s.id = a.sequence_id
    left join sb_enrollments e on e.id = a.enrollment_id
    left join sb_senders o on o.sequencer = a.sequencer and o.email = lower(e.sender)
    left join events v on v.sent_id = a.id
    where a.sequencer = '{SEQUENCER}' and a.kind = 'sent'
)
select * from final m
"""


def message_json(row: dict) -> dict[str, Any]:
    """An emailer message: the fields of Check Email Stats' `emailer_message` seqguard
    reads (its `status` of a sent email is `completed`)."""
    sender = row["sender_id"]
    return {"id": object_id("message", row["id"]),
            "user_id": object_id("user", sender) if sender else None,
            "emailer_campaign_id": row["campaign"],
            "contact_id": object_id("contact", row["person_id"]),
            "to_email": row["email"], "from_email": row["sender"], "status": "completed",
            "due_at": iso_offset(row["occurred_at"]),
            "completed_at": iso_offset(row["occurred_at"])}


def search_messages(state: SandboxState, request: Request, params: Params) -> dict:
    """Search for Outreach Emails: `{emailer_messages, pagination}`, newest first. Date
    bounds are dates (or times) the email was due or completed; a sandbox email is due
    and completed when it is sent."""
    page, per_page = paging(params)
    where, args = ["true"], []
    stats = as_list(params, "emailer_message_stats")
    if stats:
        unknown = [s for s in stats if s not in MESSAGE_STATS]
        if unknown:
            raise misconfigured(f"emailer_message_stats[]: {unknown[0][:40]} is not a stat")
        where.append("(" + " or ".join(MESSAGE_STATS[s] for s in stats) + ")")
    classes = as_list(params, "emailer_message_reply_classes")
    if classes:
        if any(c not in REPLY_CLASSES for c in classes):
            raise misconfigured("emailer_message_reply_classes[]: not a reply class")
        where.append("m.replied" if UNCLASSIFIED in classes else "false")
    for name, negate in (("emailer_campaign_ids", ""), ("not_emailer_campaign_ids", "not ")):
        if as_list(params, name):
            where.append(f"{negate}list_contains(?, m.campaign)")
            args.append(as_list(params, name))
    if as_list(params, "user_ids"):
        where.append("list_contains(?, m.sender_id)")
        args.append([row_id("user", u) for u in as_list(params, "user_ids")])
    if params.get("email_account_id_and_aliases"):
        where.append("m.sender_id = ?")
        args.append(row_id("email_account", params["email_account_id_and_aliases"]))
    if params.get("q_keywords"):
        where.append("contains(m.email, ?)")
        args.append(str(params["q_keywords"]).strip().lower())
    mode = params.get("emailer_message_date_range_mode")
    if mode is not None and mode not in ("due_at", "completed_at"):
        raise misconfigured("emailer_message_date_range_mode must be due_at or completed_at")
    for bound, op in (("min", ">="), ("max", "<")):
        text = params.get(f"emailer_message_date_range[{bound}]")
        if text:
            where.append(f"m.occurred_at {op} ?")
            args.append(_bound(str(text), bound))
    sql = MESSAGES_SQL + " where " + " and ".join(where)
    total = state.rows(f"select count(*) as n from ({sql})", args)[0]["n"]
    rows = [] if page > MAX_PAGE else state.rows(
        sql + " order by m.occurred_at desc, m.id desc limit ? offset ?",
        [*args, per_page, (page - 1) * per_page])
    return {"emailer_messages": [message_json(r) for r in rows],
            "pagination": pagination(page, per_page, total)}


def _bound(text: str, bound: str) -> Any:
    """A date range bound: a date covers its whole day (max: up to its end)."""
    try:
        if len(text) == 10:
            day = parse_time(text + "T00:00:00")
            return day + timedelta(days=1) if bound == "max" else day
        return parse_time(text)
    except ValueError as exc:
        raise misconfigured(f"emailer_message_date_range[{bound}] is not a date") from exc
