"""Apollo's REST API v1 over the shared sandbox sequencer, as Apollo documents it.

Served (https://api.apollo.io/api/v1/..., pages cited beside each route):
- `POST contacts/search`, `GET contacts/{id}`: contacts with their sequence statuses;
- `POST emailer_campaigns/search`: sequences;
- `POST emailer_campaigns/{id}/add_contact_ids`: add contacts to a sequence, sent from an
  email account;
- `POST emailer_campaigns/remove_or_stop_contact_ids`: `mode` remove, mark_as_finished or
  stop;
- `GET email_accounts`: the sending accounts;
- `GET emailer_messages/search`: the emails sequences sent, filtered by what recipients did.

Parameters, paging and refusals (422 for a parameter the reference does not list):
sandbox/apollo_params.py; records: sandbox/apollo_records.py; emails:
sandbox/apollo_messages.py.

Credentials: `X-Api-Key` (https://docs.apollo.io/docs/create-api-key). `sandbox-apollo`
is a master key; `sandbox-apollo-standard` is not, and gets the documented 403 from every
endpoint whose page says "This endpoint requires a master API key" (all of the above but
contacts/search).

Rate limits ("Rate Limits", https://docs.apollo.io/reference/rate-limits): per minute,
hour and day by plan (all other APIs: 200 a minute, 400 an hour on Basic and
Organization), a fixed window; 429 past it ("Errors"); every answer carries
x-rate-limit-{minute,hourly,daily}, x-{minute,hourly,daily}-usage and
x-{minute,hourly,daily}-requests-left. The sandbox's window (`/_sandbox/faults`
rate_limits.apollo) is reported as the minute's (up to 60 s), the hour's (up to an hour)
or the day's; no Retry-After (none is documented).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import apollo_messages, apollo_params, people, sequencer
from sandbox import apollo_records as records
from sandbox.apollo_params import (
    MAX_PAGE,
    ApolloError,
    Params,
    as_list,
    flag,
    ids,
    misconfigured,
    pagination,
    paging,
)
from sandbox.apollo_records import SEQUENCER
from sandbox.faults import RateWindow
from sandbox.state import SandboxState
from sandbox.vendors import Answer, Shapes

BASE = "/api/v1"
MASTER_KEY = "sandbox-apollo"
# each endpoint's documented parameters (the reference's, plus the legacy reference's)
PARAMS = {
    # https://docs.apollo.io/reference/search-for-contacts
    "contacts_search": {"q_keywords", "contact_stage_ids", "contact_label_ids",
                        "sort_by_field", "sort_ascending", "per_page", "page"},
    # https://docs.apollo.io/reference/search-for-sequences
    "campaigns_search": {"q_name", "page", "per_page"},
    # https://docs.apollo.io/reference/add-contacts-to-sequence (async, user_id and
    # sequence_same_company_in_same_campaign: the legacy reference's example)
    "add": {"emailer_campaign_id", "contact_ids", "label_names",
            "send_email_from_email_account_id", "send_email_from_email_address",
            "sequence_no_email", "sequence_unverified_email", "sequence_job_change",
            "sequence_active_in_other_campaigns", "sequence_finished_in_other_campaigns",
            "sequence_same_company_in_same_campaign", "user_id", "async"},
    # https://docs.apollo.io/reference/update-contact-status-sequence (async: legacy)
    "remove": {"emailer_campaign_ids", "contact_ids", "mode", "async"},
    # https://docs.apollo.io/reference/search-for-outreach-emails
    "messages_search": {"emailer_message_stats", "emailer_message_reply_classes", "user_ids",
                        "email_account_id_and_aliases", "emailer_campaign_ids",
                        "not_emailer_campaign_ids", "emailer_message_date_range_mode",
                        "emailer_message_date_range[min]", "emailer_message_date_range[max]",
                        "not_sent_reason_cds", "q_keywords", "page", "per_page"},
    "none": set(),
}
MODES = {"remove": ("unenrolled", "removed"), "stop": ("paused", "stopped"),
         "mark_as_finished": ("finished", "marked_finished")}
SORT_FIELDS = {"contact_created_at": "created_at", "contact_updated_at": "updated_at",
               "contact_last_activity_date": None, "contact_email_last_opened_at": None,
               "contact_email_last_clicked_at": None}
WINDOW_NAMES = ((60.0, "minute", "minute"), (3600.0, "hourly", "hourly"),
                (float("inf"), "daily", "daily"))


def _rate_headers(window: RateWindow) -> dict[str, str]:
    _, limit_name, usage_name = next(w for w in WINDOW_NAMES if window.window_s <= w[0])
    return {f"x-rate-limit-{limit_name}": str(window.limit),
            f"x-{usage_name}-usage": str(window.used),
            f"x-{usage_name}-requests-left": str(window.remaining)}


def _rate_limited(window: RateWindow) -> Answer:
    return 429, {"error": f"Too many requests: the maximum number of api calls allowed is "
                          f"{window.limit} per {window.window_s:g} seconds"}, {}


SHAPES = Shapes(
    unauthorized=lambda: (401, {"error": "Invalid access credentials."}, {}),
    rate_limited=_rate_limited,
    server_error=lambda: (500, {"error": "Internal Server Error"}, {}),
    rate_headers=_rate_headers,
)

Handler = Callable[[SandboxState, Request, Params], Any]


def routes(state: SandboxState) -> list[Route]:
    table: list[tuple[str, str, str, bool, Handler]] = [
        ("/contacts/search", "POST", "contacts_search", False, search_contacts),
        ("/contacts/{contact_id}", "GET", "none", True, view_contact),
        ("/emailer_campaigns/search", "POST", "campaigns_search", True, search_campaigns),
        ("/emailer_campaigns/remove_or_stop_contact_ids", "POST", "remove", True,
         remove_or_stop),
        ("/emailer_campaigns/{campaign_id}/add_contact_ids", "POST", "add", True, add_contacts),
        ("/email_accounts", "GET", "none", True, list_email_accounts),
        ("/emailer_messages/search", "GET", "messages_search", True,
         apollo_messages.search_messages),
    ]
    return [Route(BASE + path, _endpoint(state, handler, PARAMS[names], master),
                  methods=[method])
            for path, method, names, master, handler in table]


def _endpoint(state: SandboxState, handler: Handler, allowed: set[str],
              master: bool) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        try:
            if master and request.headers.get("x-api-key") != MASTER_KEY:
                raise ApolloError(403, f"{request.url.path.lstrip('/')} is not accessible "
                                       "with this api_key", "API_INACCESSIBLE")
            params = apollo_params.parse(request, await request.body(), allowed)
            return JSONResponse(await run_in_threadpool(handler, state, request, params))
        except ApolloError as error:
            return error.answer()

    run.__name__ = handler.__name__
    return run


# ---- contacts ------------------------------------------------------------------------------

def search_contacts(state: SandboxState, request: Request, params: Params) -> dict:
    """Search for Contacts: `{contacts, breadcrumbs, pagination}`. q_keywords matches the
    contacts' email addresses (the sandbox knows no names, titles or employers); stage
    and label filters match nothing, for the sandbox has neither."""
    people.mirrored(state, SEQUENCER)
    page, per_page = paging(params)
    sort = params.get("sort_by_field")
    if sort is not None and sort not in SORT_FIELDS:
        raise misconfigured(f"sort_by_field: {str(sort)[:40]} is not one of "
                            f"{', '.join(SORT_FIELDS)}")
    column = SORT_FIELDS.get(str(sort)) or "id"
    direction = "asc" if flag(params, "sort_ascending") or column == "id" else "desc"
    keywords = str(params.get("q_keywords") or "").strip().lower()
    staged = bool(as_list(params, "contact_stage_ids") or as_list(params, "contact_label_ids"))
    where = "sequencer = ? and not ? and contains(email, ?)"
    args = [SEQUENCER, staged, keywords]
    total = state.rows(f"select count(*) as n from sb_people where {where}", args)[0]["n"]
    ids = [] if page > MAX_PAGE else [r["id"] for r in state.rows(
        f"""select id from sb_people where {where}
            order by {column} {direction}, id limit ? offset ?""",
        [*args, per_page, (page - 1) * per_page])]
    crumbs = [{"label": "Contains Keywords", "signal_field_name": "q_keywords",
               "value": params["q_keywords"], "display_name": params["q_keywords"]}
              ] if keywords else []
    return {"contacts": records.contacts_json(state, ids), "breadcrumbs": crumbs,
            "partial_results_only": False,
            "pagination": pagination(page, per_page, total)}


def view_contact(state: SandboxState, request: Request, params: Params) -> dict:
    """View a Contact (https://docs.apollo.io/reference/view-a-contact): `{contact}`."""
    people.mirrored(state, SEQUENCER)
    number = ids("contact", [request.path_params["contact_id"]], "contact_id")[0]
    found = records.contacts_json(state, [number])
    if not found:
        raise ApolloError(404, "Not Found")
    return {"contact": found[0]}


# ---- sequences -----------------------------------------------------------------------------

def search_campaigns(state: SandboxState, request: Request, params: Params) -> dict:
    """Search for Sequences: `{pagination, breadcrumbs, emailer_campaigns}`; q_name
    matches part of a name."""
    page, per_page = paging(params)
    name = str(params.get("q_name") or "").strip().lower()
    rows = [r for r in sequencer.list_sequences(state) if name in r["name"].lower()]
    shown = rows[(page - 1) * per_page: page * per_page] if page <= MAX_PAGE else []
    crumbs = [{"label": "Name", "signal_field_name": "q_name", "value": params["q_name"],
               "display_name": params["q_name"]}] if name else []
    return {"pagination": pagination(page, per_page, len(rows)), "breadcrumbs": crumbs,
            "emailer_campaigns": [records.campaign_json(r) for r in shown]}


def _sequence(state: SandboxState, campaign: str, name: str) -> dict:
    found = records.sequence_of(state, campaign)
    if found is None:
        raise misconfigured(f"{name}: {campaign[:40]} is not a valid ID")
    return found


def add_contacts(state: SandboxState, request: Request, params: Params) -> dict:
    """Add Contacts to a Sequence: every named contact that exists comes back in
    `contacts` with its statuses; one that was added has a status in this sequence.

    A contact is left as it is when already active or paused in this sequence, and is
    not added when it went through the sequence before (each contact goes through each
    step once, "Add Contacts to a Sequence" in Apollo's knowledge base,
    https://knowledge.apollo.io/hc/en-us/articles/4409396985741), when it finished
    another sequence and sequence_finished_in_other_campaigns is not true, or when the
    sequencer refuses it (open in another sequence, unsubscribed). Which contacts were
    skipped, and why, is not part of the documented answer.
    """
    campaign = request.path_params["campaign_id"]
    if params.get("emailer_campaign_id") != campaign:
        raise misconfigured("emailer_campaign_id must be the sequence id of the path")
    sequence = _sequence(state, campaign, "emailer_campaign_id")
    sender = records.sender_of(state, str(params.get("send_email_from_email_account_id")))
    if sender is None:
        raise misconfigured("send_email_from_email_account_id is not a valid ID")
    address = params.get("send_email_from_email_address")
    if address is not None and str(address).lower() != sender["email"]:
        raise misconfigured("send_email_from_email_address is not an address of that account")
    if flag(params, "sequence_active_in_other_campaigns"):
        raise misconfigured("sequence_active_in_other_campaigns: the sandbox does not "
                            "imitate enrolling contacts active in another sequence")
    contacts = ids("contact", as_list(params, "contact_ids"), "contact_ids")
    if not contacts and not as_list(params, "label_names"):
        raise misconfigured("Either contact_ids[] or label_names[] must be provided")
    skipped = _not_added(state, contacts, sequence["id"],
                         flag(params, "sequence_finished_in_other_campaigns"))
    sequencer.enroll_many(state, crm=SEQUENCER, sequence_id=sequence["id"],
                          contact_ids=[str(p) for p in contacts if p not in skipped],
                          sender=sender["email"])
    return {"contacts": records.contacts_json(state, contacts),
            "emailer_campaign": records.campaign_json(sequence),
            "emailer_steps": [], "emailer_touches": []}


def _not_added(state: SandboxState, contacts: list[int], sequence_id: str,
               finished_elsewhere_ok: bool) -> set[int]:
    """The contacts Apollo leaves out before the sequencer's own refusals: in this
    sequence already (open: left as they are; went through it: not again), or finished in
    another one unless that is allowed."""
    return {r["person"] for r in state.rows(
        """select distinct cast(contact_id as bigint) as person from sb_enrollments
           where crm = ? and list_contains(?, cast(contact_id as bigint))
             and state <> 'unenrolled' and (sequence_id = ? or (state = 'finished'
                                                                and not ?))""",
        [SEQUENCER, contacts, sequence_id, finished_elsewhere_ok])}


def remove_or_stop(state: SandboxState, request: Request, params: Params) -> dict:
    """Update Contact Status in a Sequence: each named contact in each named sequence is
    removed (its status there goes), marked as finished, or stopped (halted: shown
    paused). Answers the contacts with their statuses and the sequences' ids."""
    mode = str(params.get("mode") or "")
    if mode not in MODES:
        raise misconfigured(f"mode must be one of {', '.join(MODES)}")
    campaigns = as_list(params, "emailer_campaign_ids")
    if not campaigns:
        raise misconfigured("emailer_campaign_ids[] is required")
    sequences = [_sequence(state, c, "emailer_campaign_ids")["id"] for c in campaigns]
    contacts = ids("contact", as_list(params, "contact_ids"), "contact_ids")
    if not contacts:
        raise misconfigured("contact_ids[] is required")
    to_state, reason = MODES[mode]
    targets = [{"contact_id": str(p), "sequence_id": s, "reason": reason}
               for p in contacts for s in sequences]
    if to_state == "finished":
        _mark_finished(state, targets)
    else:
        sequencer.change_states(state, crm=SEQUENCER, targets=targets, to_state=to_state)
    return {"contacts": records.contacts_json(state, contacts),
            "emailer_campaigns": [{"id": c} for c in dict.fromkeys(campaigns)]}


def _mark_finished(state: SandboxState, targets: list[dict]) -> None:
    """The targets' open enrollments end as finished (the shared sequencer's own changes
    know no 'finished' by hand)."""
    with state.transaction() as con:
        for target in targets:
            con.execute(
                """update sb_enrollments set state = 'finished', reason = ?, updated_at = ?,
                       next_step_at = null
                   where crm = ? and contact_id = ? and sequence_id = ?
                     and state in ('active', 'paused')""",
                [target["reason"], state.now(), SEQUENCER, target["contact_id"],
                 target["sequence_id"]])


# ---- email accounts and emails -------------------------------------------------------------

def list_email_accounts(state: SandboxState, request: Request, params: Params) -> dict:
    """Get a List of Email Accounts: `{email_accounts}`, no paging (none is documented)."""
    people.mirrored(state, SEQUENCER)
    return {"email_accounts": records.email_accounts(state)}


