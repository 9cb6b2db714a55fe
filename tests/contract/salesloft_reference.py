"""What Salesloft documents for the calls seqguard makes, written out from its pages.

Records: Salesloft's published API definition (developers.salesloft.com/v2_api_def.json,
as archived by apis.guru and openintegrations/openSDKs sdks/sdk-salesloft/
salesloft.orig.oas.json), components.schemas, each property with the definition's own
example; related records are EmbeddedResource `{"_href", "id"}`. Query parameters: the
same definition's `parameters` of each path (array filters `style: form, explode: false`;
time filters the keys gt/gte/lt/lte of its "---CUSTOM---" note). Envelope, paging and
errors: "Request & Response Format" and "Filtering, Paging, Sorting"
(https://developers.salesloft.com/docs/platform/api-basics/request-response-format/,
.../filtering-paging-sorting/); the metadata shape as openSDKs' salesloft.oas.ts writes
it. Rate limit: https://developers.salesloft.com/docs/platform/api-basics/rate-limits/.
"""

from __future__ import annotations

import re
from typing import Any

TIME = "2023-01-01T00:00:00.000000-05:00"   # the definition's date-time example
TIME_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}([+-]\d\d:\d\d|Z)$")
EMBEDDED = {"_href": "https://api.salesloft.com/v2/widgets/10", "id": 10}

# components.schemas.CadenceMembership (List / Create / Fetch a cadence membership)
MEMBERSHIP = {
    "added_at": TIME, "cadence": EMBEDDED,
    "counts": {"bounces": 0, "calls": 2, "clicks": 5, "replies": 2, "sent_emails": 4,
               "views": 10},
    "created_at": TIME, "current_state": "staged", "currently_on_cadence": False, "id": 1,
    "latest_action": EMBEDDED, "person": EMBEDDED, "person_deleted": False,
    "updated_at": TIME, "user": EMBEDDED,
}
# CadenceMembership.current_state: "Possible values are: processing, staged, active,
# scheduled, completed, removed, removed_no_action, reassigned"
CURRENT_STATES = {"processing", "staged", "active", "scheduled", "completed", "removed",
                  "removed_no_action", "reassigned"}

# components.schemas.Cadence (List cadences)
CADENCE = {
    "added_stage": EMBEDDED, "archived_at": TIME, "bounced_stage": EMBEDDED,
    "cadence_framework_id": 1, "cadence_function": "outbound",
    "cadence_priority": EMBEDDED,
    "counts": {"cadence_people": 59, "meetings_booked": 10, "opportunities_created": 10,
               "people_acted_on_count": 1, "target_daily_people": 10},
    "created_at": TIME, "creator": EMBEDDED, "draft": False,
    "external_identifier": "This is my external id", "finished_stage": EMBEDDED,
    "groups": [EMBEDDED], "id": 1, "name": "Prospecting - VP of Sales",
    "opt_out_link_included": True, "owner": EMBEDDED, "remove_bounces_enabled": True,
    "remove_replies_enabled": True, "replied_stage": EMBEDDED, "shared": False,
    "tags": ["7-23-2017"], "team_cadence": False, "updated_at": TIME,
}

# components.schemas.Step (List steps): `day` "Day this step is associated with up",
# `step_number` "The number of the step for this day"
STEP = {
    "cadence": EMBEDDED, "created_at": TIME, "day": 1, "details": EMBEDDED,
    "disabled": True, "display_name": "Day 1: Step 2 - Phone", "id": 1,
    "multitouch_enabled": False, "name": "VP Email Short", "step_number": 1,
    "type": "phone", "updated_at": TIME,
}

# components.schemas.User (List users)
USER = {
    "_private_fields": {}, "active": True, "bcc_email_address": "fake@salesloft.com",
    "click_to_call_enabled": True, "created_at": TIME, "crm_connected": True,
    "email": "fake@salesloft.com", "email_client_configured": True,
    "email_client_email_address": "fake@salesloft.com",
    "email_signature": "Benjamin Franklin<div></div><div></div>",
    "email_signature_click_tracking_disabled": False, "email_signature_type": "html",
    "external_feature_flags": {}, "first_name": "Benjamin",
    "from_address": "fake@salesloft.com",
    "full_email_address": '"Benjamin Franklin" <Benjamin@salesloft.com>',
    "group": EMBEDDED, "guid": "9cc6da15-d403-4f5b-aeed-c4b8463cf9ae", "id": 1,
    "job_role": "SDR / BDR", "last_name": "Franklin", "local_dial_enabled": True,
    "name": "Benjamin Franklin", "phone_client": EMBEDDED,
    "phone_number_assignment": EMBEDDED, "role": EMBEDDED,
    "sending_email_address": "fake@salesloft.com", "slack_username": "benjamin-franklin",
    "team": EMBEDDED, "team_admin": True, "time_zone": "US/Eastern",
    "twitter_handle": "@benjamin-franklin", "updated_at": TIME, "work_country": "PE",
}

# components.schemas.Person (List people)
PERSON = {
    "account": EMBEDDED, "bouncing": False, "cadences": [EMBEDDED], "city": "Atlanta",
    "contact_restrictions": ["email"], "country": "United States",
    "counts": {"calls": 4, "emails_bounced": 0, "emails_clicked": 1,
               "emails_replied_to": 0, "emails_sent": 3, "emails_viewed": 2},
    "created_at": TIME, "crm_id": "003i000001mnhpD", "crm_object_type": "Lead",
    "crm_url": "https://na15.salesforce.com/003i000001mnhpD",
    "custom_fields": {"MyField": "A Value", "Other": "Field"},
    "display_name": "Pat Johnson", "do_not_contact": True,
    "email_address": "pat.johnson@example.com", "eu_resident": False, "first_name": "Pat",
    "full_email_address": "Pat Johnson <pat.johnson@example.com>",
    "home_phone": "+1 444 555 6666", "id": 1, "import": EMBEDDED,
    "job_seniority": "vice_president", "last_completed_step": EMBEDDED,
    "last_completed_step_cadence": EMBEDDED, "last_contacted_at": TIME,
    "last_contacted_by": EMBEDDED, "last_contacted_type": "call", "last_name": "Johnson",
    "last_replied_at": TIME, "linkedin_url": "https://www.linkedin.com/in/username",
    "locale": "US/Eastern", "locale_utc_offset": -480, "mobile_phone": "+1 444 555 6666",
    "most_recent_cadence": EMBEDDED, "owner": EMBEDDED, "owner_crm_id": "003i000001mnhpD",
    "person_company_industry": "Information Technology", "person_company_name": "SalesLoft",
    "person_company_website": "https://salesloft.com", "person_stage": EMBEDDED,
    "personal_email_address": "pat.johnson@example.com",
    "personal_website": "https://salesloft.com", "phone": "+1 444 555 6666",
    "phone_extension": "x123", "secondary_email_address": "pat.johnson@example.com",
    "starred": True, "state": "Georgia", "success_count": 1, "tags": ["dreamforce"],
    "title": "Sales Development Representative", "twitter_handle": "@kyleporter",
    "untouched": False, "updated_at": TIME, "work_city": "Atlanta",
    "work_country": "United States", "work_state": "Georgia",
}

# components.schemas.Email (List emails, /v2/activities/emails)
EMAIL = {
    "action": EMBEDDED, "bounced": False, "cadence": EMBEDDED, "click_tracking": True,
    "counts": {"attachments": 0, "clicks": 2, "replies": 1, "unique_devices": 4,
               "unique_locations": 3, "views": 3},
    "created_at": TIME, "crm_activity": EMBEDDED, "email_template": EMBEDDED,
    "error_message": "<string>", "headers": {"bcc": "track@salesforce.com",
                                             "cc": "sb@salesloft.com"},
    "id": 1, "mailing": EMBEDDED, "personalization": "13.4", "recipient": EMBEDDED,
    "recipient_email_address": "bob.smith@example.com", "send_after": TIME,
    "sent_at": TIME, "status": "sent", "step": EMBEDDED, "subject": "<string>",
    "task": EMBEDDED, "updated_at": TIME, "user": EMBEDDED, "view_tracking": True,
}
# Email.status: "Possible values are: sent, sent_from_gmail, sent_from_external, pending,
# pending_reply_check, scheduled, sending, delivering, failed, cancelled,
# pending_through_gmail, pending_through_external"
EMAIL_STATUSES = {"sent", "sent_from_gmail", "sent_from_external", "pending",
                  "pending_reply_check", "scheduled", "sending", "delivering", "failed",
                  "cancelled", "pending_through_gmail", "pending_through_external"}

# every list's envelope: `data` and `metadata` (filtering echo, paging, sorting)
METADATA = {
    "filtering": {},
    "paging": {"per_page": 25, "current_page": 1, "next_page": 2, "prev_page": 1,
               "total_pages": 1, "total_count": 1},
    "sorting": {"sort_by": "updated_at", "sort_direction": "DESC NULLS LAST"},
}
PAGING_REQUIRED = ("per_page", "current_page", "next_page", "prev_page")


def listing(record: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": METADATA, "data": [record]}


def one(record: dict[str, Any]) -> dict[str, Any]:
    return {"data": record}


# errors: `error` on 403 and 404; `errors` (field -> messages) on 422, e.g.
# {"errors": {"email_address": ["is already taken"], "first_name": ["is required"]}}
NOT_FOUND = {"error": "Not Found"}


def unprocessable_problems(body: Any) -> list[str]:
    """Where a 422 body leaves `{"errors": {field: [message, ...]}}`."""
    if not isinstance(body, dict) or set(body) != {"errors"}:
        return [f"{body!r}: not {{\"errors\": ...}}"]
    errors = body["errors"]
    if not isinstance(errors, dict) or not errors:
        return [f"errors: {errors!r} is not an object of fields"]
    return [f"errors.{name}: {messages!r} is not a list of messages"
            for name, messages in errors.items()
            if not isinstance(messages, list) or not messages
            or not all(isinstance(m, str) for m in messages)]

PAGING_PARAMS = {"sort_by", "sort_direction", "per_page", "page", "include_paging_counts",
                 "limit_paging_counts"}


def times(name: str) -> set[str]:
    """A time filter's documented keys."""
    return {f"{name}[{op}]" for op in ("gt", "gte", "lt", "lte")}


# each path's documented query parameters
QUERY = {
    ("GET", "/v2/cadence_memberships"): {
        "ids", "person_id", "cadence_id", "currently_on_cadence"} | times("updated_at")
    | PAGING_PARAMS,
    ("POST", "/v2/cadence_memberships"): {"person_id", "cadence_id", "user_id", "step_id"},
    ("GET", "/v2/cadences"): {
        "ids", "team_cadence", "shared", "owned_by_guid", "people_addable", "name",
        "group_ids", "archived"} | times("updated_at") | PAGING_PARAMS,
    ("GET", "/v2/steps"): {"ids", "cadence_id", "type", "has_due_actions"} | PAGING_PARAMS,
    ("GET", "/v2/users"): {
        "ids", "guid", "group_id", "role_id", "search", "active", "visible_only", "per_page",
        "page", "include_paging_counts", "has_crm_user", "work_country", "sort_by",
        "sort_direction"},
    ("GET", "/v2/people"): {
        "ids", "email_addresses", "owned_by_guid", "person_stage_id", "crm_id",
        "owner_crm_id", "do_not_contact", "can_email", "can_call", "can_text", "account_id",
        "custom_fields", "import_id", "job_seniority", "tag_id", "owner_is_active",
        "cadence_id", "starred_by_guid", "replied", "bounced", "success", "eu_resident",
        "title", "country", "state", "city", "last_contacted", "created_at", "new",
        "phone_number", "locales", "owner_id"} | times("updated_at") | PAGING_PARAMS,
    ("GET", "/v2/activities/emails"): {
        "ids", "bounced", "crm_activity_id", "action_id", "user_id", "status", "cadence_id",
        "step_id", "one_off", "scoped_fields", "person_id", "email_addresses",
        "personalization"} | times("updated_at") | times("sent_at") | PAGING_PARAMS,
}
REQUIRED_QUERY = {("POST", "/v2/cadence_memberships"): {"person_id", "cadence_id"}}

# Rate Limits: "the following response headers are added to each response"
RATE_HEADERS = ("x-ratelimit-endpoint-cost", "x-ratelimit-remaining-minute")
