"""What Outreach documents for the calls seqguard makes, written down from its pages, and
the checks that hold a request or an answer against it. Nothing here comes from
seqguard's code or the sandbox's.

Sources: the API reference, one page per resource
(https://developers.outreach.io/api/reference/tag/<Resource>/: attributes with their types
and the badges "readonly", "filterable", "sortable"; relationships), the OpenAPI
description Outreach publishes (https://api.outreach.io/api/v2/schema/openapi.json: the
same schemas; every error response `{"errors": [{"id", "title", "detail"}]}`), "Making
requests" (https://developers.outreach.io/api/making-requests/: media type, pagination,
filtering, sorting, sparse fieldsets, actions) and "Getting started"
(https://developers.outreach.io/api/getting-started/: OAuth bearer token, rate limiting).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MEDIA_TYPE = "application/vnd.api+json"
BASE = "/api/v2"
DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")

# (custom1..customN fields of Prospect left out: seqguard names none)
ATTRIBUTES: dict[str, set[str]] = {
    "prospect": {
        "addedAt", "addressCity", "addressCountry", "addressState", "addressStreet",
        "addressStreet2", "addressZip", "angelListUrl", "availableAt", "callOptedOut",
        "callsOptStatus", "callsOptedAt", "campaignName", "clickCount", "company",
        "contactHistogram", "createdAt", "dateOfBirth", "degree", "emailOptedOut", "emails",
        "emailsOptStatus", "emailsOptedAt", "engagedAt", "engagedScore", "eventName",
        "externalId", "externalOwner", "externalSource", "facebookUrl", "firstName", "gender",
        "githubUrl", "githubUsername", "googlePlusUrl", "graduationDate", "homePhones",
        "jobStartDate", "lastName", "linkedInConnections", "linkedInId", "linkedInSlug",
        "linkedInUrl", "middleName", "mobilePhones", "name", "nickname", "occupation",
        "openCount", "optedOut", "optedOutAt", "otherPhones", "personalNote1", "personalNote2",
        "preferredContact", "quoraUrl", "region", "replyCount", "school", "score",
        "sharingTeamId", "source", "specialties", "stackOverflowId", "stackOverflowUrl",
        "tags", "timeZone", "timeZoneIana", "timeZoneInferred", "title", "touchedAt",
        "trashedAt", "twitterUrl", "twitterUsername", "updatedAt", "voipPhones",
        "websiteUrl1", "websiteUrl2", "websiteUrl3", "workPhones"},
    "sequence": {
        "automationPercentage", "bounceCount", "clickCount", "createdAt", "deliverCount",
        "description", "durationInDays", "enabled", "enabledAt", "failureCount",
        "finishOnReply", "lastUsedAt", "locked", "lockedAt", "maxActivations", "name",
        "negativeReplyCount", "neutralReplyCount", "numContactedProspects",
        "numRepliedProspects", "openCount", "optOutCount", "positiveReplyCount",
        "primaryReplyAction", "primaryReplyPauseDuration", "replyCount", "salesMotion",
        "scheduleCount", "scheduleIntervalType", "secondaryReplyAction",
        "secondaryReplyPauseDuration", "sequenceStepCount", "sequenceType", "shareType",
        "tags", "throttleCapacity", "throttleMaxAddsPerDay", "throttlePaused",
        "throttlePausedAt", "transactional", "updatedAt"},
    "sequenceStep": {
        "bounceCount", "clickCount", "createdAt", "date", "deliverCount", "displayName",
        "failureCount", "interval", "negativeReplyCount", "neutralReplyCount", "openCount",
        "optOutCount", "order", "positiveReplyCount", "replyCount", "scheduleCount",
        "stepType", "taskAutoskipDelay", "taskNote", "updatedAt"},
    "mailbox": {  # the write-only ones (password, smtpPassword, validate*) never come back
        "authId", "createdAt", "editable", "email", "emailHash", "emailProvider",
        "emailSignature", "ewsEndpoint", "ewsSslVerifyMode", "exchangeVersion", "imapHost",
        "imapPort", "imapSsl", "maxEmailsPerDay", "maxMailingsPerDay", "maxMailingsPerWeek",
        "optOutMessage", "optOutSignature", "prospectEmailExclusions", "providerId",
        "providerType", "sendDisabled", "sendErroredAt", "sendMaxRetries", "sendMethod",
        "sendPeriod", "sendRequiresSync", "sendSuccessAt", "sendThreshold",
        "sendgridWebhookUrl", "smtpHost", "smtpPort", "smtpSsl", "smtpUsername",
        "syncActiveFrequency", "syncDisabled", "syncErroredAt", "syncFinishedAt",
        "syncMethod", "syncOutreachFolder", "syncPassiveFrequency", "syncSuccessAt",
        "updatedAt", "userId", "username"},
    "sequenceState": {
        "activeAt", "bounceCount", "callCompletedAt", "clickCount", "createdAt",
        "deliverCount", "errorReason", "failureCount", "negativeReplyCount",
        "neutralReplyCount", "openCount", "optOutCount", "pauseReason", "positiveReplyCount",
        "repliedAt", "replyCount", "scheduleCount", "state", "stateChangedAt", "updatedAt"},
    "mailing": {
        "bodyHtml", "bodyText", "bouncedAt", "clickCount", "clickedAt", "createdAt",
        "deliveredAt", "errorBacktrace", "errorReason", "followUpTaskScheduledAt",
        "followUpTaskType", "mailboxAddress", "mailingType", "markedAsSpamAt", "messageId",
        "notifyThreadCondition", "notifyThreadScheduledAt", "notifyThreadStatus",
        "openCount", "openedAt", "overrideSafetySettings", "references", "repliedAt",
        "retryAt", "retryCount", "retryInterval", "scheduledAt", "state", "stateChangedAt",
        "subject", "trackLinks", "trackOpens", "unsubscribedAt", "updatedAt"},
}
RELATIONSHIPS: dict[str, set[str]] = {
    "prospect": {"account", "activeSequenceStates", "assignedTeams", "assignedUsers",
                 "batches", "calls", "creator", "defaultPluginMapping", "emailAddresses",
                 "favorites", "mailings", "opportunities", "opportunityProspectRoles", "owner",
                 "persona", "phoneNumbers", "sequenceStates", "stage", "tasks",
                 "trashedByAccount", "updater"},
    "sequence": {"calls", "contentCategoryMemberships", "creator", "mailings", "owner",
                 "ruleset", "schedule", "sequenceStates", "sequenceSteps", "tasks", "updater"},
    "sequenceStep": {"callPurpose", "calls", "creator", "mailings", "schedule", "sequence",
                     "sequenceTemplates", "taskPriority", "tasks", "updater"},
    "mailbox": {"creator", "mailAliases", "mailings", "updater", "user"},
    "sequenceState": {"account", "activeStepMailings", "activeStepTasks", "batchItemCreator",
                      "calls", "creator", "mailbox", "mailings", "opportunity", "prospect",
                      "sequence", "sequenceStateRecipients", "sequenceStep", "tasks", "user"},
    "mailing": {"attachments", "bccEntitiesId", "calendar", "ccEntitiesId", "followUpSequence",
                "mailbox", "opportunity", "prospect", "prospectsIds", "recipients", "schedule",
                "sequence", "sequenceState", "sequenceStep", "task", "tasks", "template",
                "toEntitiesId", "user"},
}
# attributes with the "filterable" badge (plus id, filterable everywhere: "Making requests",
# Filtering: filter[id]=1,2,3), and the relationships filterable by [id]
FILTERABLE: dict[str, set[str]] = {
    "prospect": {"id", "createdAt", "emails", "engagedAt", "firstName", "lastName",
                 "updatedAt"},
    "sequence": {"id", "createdAt", "name", "updatedAt"},
    "sequenceStep": {"id", "createdAt", "order", "stepType", "updatedAt"},
    "mailbox": {"id", "createdAt", "email", "updatedAt", "userId"},
    "sequenceState": {"id", "createdAt", "deliverCount", "repliedAt", "replyCount", "state",
                      "stateChangedAt", "updatedAt"},
    "mailing": {"id", "bouncedAt", "createdAt", "deliveredAt", "mailingType", "repliedAt",
                "state", "unsubscribedAt", "updatedAt"},
}
FILTERABLE_RELATIONSHIPS: dict[str, set[str]] = {
    "sequenceStep": {"sequence"},
    "sequenceState": {"account", "mailbox", "prospect", "sequence", "sequenceStep"},
    "mailing": {"mailbox", "prospect", "sequence", "sequenceState", "sequenceStep"},
}
SORTABLE: dict[str, set[str]] = {"sequenceState": {"createdAt", "updatedAt", "state"},
                                 "mailing": {"createdAt", "updatedAt", "deliveredAt"}}
# the attributes seqguard reads, with the reference's type for each
TYPED = {
    ("prospect", "emails"): list, ("sequence", "name"): str, ("mailbox", "email"): str,
    ("sequenceStep", "order"): int, ("sequenceState", "state"): str,
    ("sequenceState", "createdAt"): "date-time", ("sequenceState", "updatedAt"): "date-time",
    ("mailing", "deliveredAt"): "date-time", ("mailing", "repliedAt"): "date-time",
    ("mailing", "bouncedAt"): "date-time", ("mailing", "unsubscribedAt"): "date-time",
    ("mailing", "updatedAt"): "date-time",
}
PLURAL = {"prospects": "prospect", "sequences": "sequence", "sequenceSteps": "sequenceStep",
          "mailboxes": "mailbox", "sequenceStates": "sequenceState", "mailings": "mailing"}
# sequence state values: the Sequence States overview
# (https://support.outreach.io/hc/en-us/articles/211861917-Outreach-Sequence-States-Overview)
# and the Prospect reference's activeSequenceStates ("active", "paused", "failed",
# "bounced", "pending", "disabled" are not finished)
SEQUENCE_STATE_VALUES = {"active", "pending", "paused", "failed", "bounced", "disabled",
                         "finished", "opted_out"}

# "Making requests": collection parameters; member actions take actionParams[...] only
COLLECTION_PARAMS = re.compile(
    r"^(filter\[\w+\](\[id\])?|fields\[\w+\]|sort|page\[size\]|page\[after\]|count)$")
PAGE_SIZE_MAX = 1000
# Sequence State reference: "Create a New Sequence State" (relationships prospect, sequence,
# mailbox are the writable ones; every attribute is read-only) and the member actions
CREATE_BODY = {"data": {"type": "sequenceState", "relationships": {
    "prospect": {"data": {"type": "prospect", "id": 1}},
    "sequence": {"data": {"type": "sequence", "id": 1}},
    "mailbox": {"data": {"type": "mailbox", "id": 1}}}}}
ACTIONS = {"finish", "pause", "resume"}
ERROR_EXAMPLE = {"errors": [{"id": "validationError", "title": "Validation Error",
                             "detail": "Name can't be blank.",
                             "source": {"pointer": "/data/attributes/name"}}]}
RATE_LIMIT_ERROR = {"errors": [{"id": "rateLimitExceeded", "title": "Rate Limit Exceeded",
                                "detail": "You have exceeded your permitted rate limit of "
                                          "10,000; please try again at 2017-01-01T00:00:00."}]}
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def path_of(url: str) -> str:
    return urlsplit(url).path


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def request_problems(method: str, url: str, body: Any, headers: dict[str, str]) -> list[str]:
    """Where a request leaves what Outreach documents."""
    found = []
    if headers.get("Content-Type") != MEDIA_TYPE:
        found.append(f"Content-Type {headers.get('Content-Type')!r}, not {MEDIA_TYPE}")
    parts = path_of(url).removeprefix(BASE + "/").split("/")
    kind = PLURAL.get(parts[0])
    if not path_of(url).startswith(BASE + "/") or kind is None:
        return [*found, f"{path_of(url)}: not a documented resource path"]
    if method == "GET" and len(parts) == 1:
        found += _collection_problems(kind, query_of(url))
    elif method == "POST" and parts == ["sequenceStates"]:
        if body != _with_ids(body):
            found.append(f"create body {body} is not the documented shape")
    elif (method == "POST" and len(parts) == 4 and parts[0] == "sequenceStates"
          and parts[1].isdigit() and parts[2] == "actions" and parts[3] in ACTIONS):
        if body is not None or query_of(url):
            found.append("a member action sent a body or parameters")
    else:
        found.append(f"{method} {path_of(url)}: not a call seqguard is documented to make")
    return found


def _with_ids(body: Any) -> Any:
    """The documented create body with `body`'s ids (integers) in place of the example's."""
    try:
        relationships = body["data"]["relationships"]
        ids = {name: relationships[name]["data"]["id"] for name in ("prospect", "sequence",
                                                                    "mailbox")}
    except (KeyError, TypeError):
        return CREATE_BODY
    if not all(isinstance(v, int) for v in ids.values()):
        return CREATE_BODY
    shaped = {name: {"data": {"type": name, "id": ids[name]}} for name in ids}
    return {"data": {"type": "sequenceState", "relationships": shaped}}


def _collection_problems(kind: str, params: list[tuple[str, str]]) -> list[str]:
    found = []
    for key, value in params:
        if not COLLECTION_PARAMS.match(key):
            found.append(f"{key}: not a documented collection parameter")
        elif key.startswith("filter["):
            name = key[len("filter["):].split("]")[0]
            relationship = key.endswith("][id]")
            allowed = FILTERABLE_RELATIONSHIPS.get(kind, set()) if relationship else \
                FILTERABLE[kind]
            if name not in allowed:
                found.append(f"{key}: {name} is not filterable on {kind}")
        elif key.startswith("fields["):
            names = set(value.split(","))
            unknown = names - ATTRIBUTES[kind] - RELATIONSHIPS[kind]
            if key != f"fields[{kind}]" or unknown:
                found.append(f"{key}={value}: not fields of {kind}")
        elif key == "sort":
            if {v.lstrip("-") for v in value.split(",")} - SORTABLE.get(kind, set()):
                found.append(f"sort={value}: not sortable on {kind}")
        elif key == "page[size]" and not 1 <= int(value) <= PAGE_SIZE_MAX:
            found.append(f"page[size]={value}: outside 1..{PAGE_SIZE_MAX}")
    return found


def resource_problems(item: Any, kind: str) -> list[str]:
    """Where a resource object leaves the reference's shape for its type."""
    if not isinstance(item, dict) or item.get("type") != kind:
        return [f"not a {kind} resource object: {item}"]
    found = []
    if not isinstance(item.get("id"), int):
        found.append(f"{kind}.id {item.get('id')!r} is not an integer")
    unknown = set(item) - {"type", "id", "attributes", "relationships", "links", "meta"}
    found += [f"{kind}: top-level member {k}" for k in sorted(unknown)]
    attributes = item.get("attributes") or {}
    found += [f"{kind}.{a}: not a documented attribute"
              for a in sorted(set(attributes) - ATTRIBUTES[kind])]
    for name, value in attributes.items():
        expected = TYPED.get((kind, name))
        if value is None or expected is None:
            continue
        if expected == "date-time":
            if not isinstance(value, str) or not DATE_TIME.match(value):
                found.append(f"{kind}.{name}: {value!r} is not an ISO 8601 date-time")
        elif not isinstance(value, expected):
            found.append(f"{kind}.{name}: {type(value).__name__}, documented {expected}")
    if kind == "sequenceState" and attributes.get("state") not in (None, *SEQUENCE_STATE_VALUES):
        found.append(f"sequenceState.state {attributes['state']!r} is not a documented value")
    for name, value in (item.get("relationships") or {}).items():
        if name not in RELATIONSHIPS[kind]:
            found.append(f"{kind}.{name}: not a documented relationship")
        data = value.get("data") if isinstance(value, dict) else None
        if data is not None and (set(data) != {"type", "id"} or not isinstance(data["id"], int)):
            found.append(f"{kind}.{name}.data {data} is not a resource identifier")
    return found


def error_problems(body: Any) -> list[str]:
    """Where an error answer leaves `{"errors": [{"id", "title", "detail", source?}]}`."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if set(body or {}) != {"errors"} or not isinstance(errors, list) or not errors:
        return [f"not a JSON:API error document: {body}"]
    return [f"error member {k}" for e in errors for k in set(e) - {"id", "title", "detail",
                                                                   "source"}]
