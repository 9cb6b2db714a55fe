"""HubSpot endpoints, page sizes, cursor fields and the properties pulled by default."""

from __future__ import annotations

from datetime import timedelta

OBJECTS = ("contacts", "companies", "deals", "emails", "meetings")

# HubSpot's default contact properties about sequences (names and types:
# https://knowledge.hubspot.com/properties/hubspots-default-contact-properties), read in
# bulk by the sync: in a sequence now (bool), the latest enrolled sequence (its id) and
# when, and the latest unenrolled and finished times. The HubSpot sequencer derives
# enrollment state from them and confirms at start-up that the account has them.
SEQUENCE_PROPERTIES = ("hs_sequences_is_enrolled", "hs_latest_sequence_enrolled",
                       "hs_latest_sequence_enrolled_date", "hs_latest_sequence_unenrolled_date",
                       "hs_latest_sequence_finished_date")

# the property columns of each object's raw table, beyond seqguard.yml's custom ones
DEFAULT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "contacts": ("email", "firstname", "lastname", "company", "website", "lifecyclestage",
                 "hubspot_owner_id", "hs_email_optout", "hs_email_bad_address",
                 "hs_additional_emails", "product_interest") + SEQUENCE_PROPERTIES,
    "companies": ("name", "domain", "hs_additional_domains", "lifecyclestage", "industry",
                  "hubspot_owner_id"),
    "deals": ("dealname", "pipeline", "dealstage", "amount", "closedate", "hs_is_closed",
              "hs_is_closed_won", "hubspot_owner_id"),
    "emails": ("hs_timestamp", "hs_email_direction", "hs_email_from_email", "hs_email_to_email",
               "hs_email_subject", "hs_email_headers", "hs_email_status", "hs_sequence_id",
               "hubspot_owner_id"),
    "meetings": ("hs_timestamp", "hs_meeting_title", "hs_meeting_outcome", "hs_attendee_email",
                 "hubspot_owner_id"),
}
# contact properties seqguard creates for its unenroll workflow; pulled once they exist
SEQGUARD_PROPERTY_PREFIX = "seqguard_unenroll_"

# contacts name their last-modified property differently from every other object
CURSOR_PROPERTY = {"contacts": "lastmodifieddate"}
DEFAULT_CURSOR_PROPERTY = "hs_lastmodifieddate"

# properties whose value must look like an email address (else the record is quarantined)
EMAIL_PROPERTIES = {"contacts": ("email",)}

# (from, to) pairs whose associations are read (v4 batch read) for changed records
ASSOCIATIONS: tuple[tuple[str, str], ...] = (
    ("contacts", "companies"), ("deals", "companies"), ("deals", "contacts"),
    ("emails", "contacts"), ("meetings", "contacts"),
)

LIST_PATH = "/crm/v3/objects/{object}"
SEARCH_PATH = "/crm/v3/objects/{object}/search"
# each input's associations are paged: a result's paging.next.after, passed back beside its
# id, reads the next page (https://developers.hubspot.com/docs/api-reference/legacy/crm/
# associations/associate-records/batch/get-associations)
ASSOCIATIONS_PATH = "/crm/v4/associations/{from_type}/{to_type}/batch/read"

LIST_PAGE_SIZE = 100  # HubSpot's maximum for the list endpoint
# search: 200 per page, 10,000 results per query (https://developers.hubspot.com/docs-beta/crm/search)
SEARCH_PAGE_SIZE = 200
SEARCH_RESULT_CAP = 10_000
# inputs per v4 batch read (https://developers.hubspot.com/changelog/
# bug-fix-batch-read-limit-for-hubspot-associations-api)
ASSOCIATION_BATCH = 1_000
# the category of a batch read's per-input error for a record with no associations of
# the type asked for (or no longer there): both mean "none", anything else fails the sync
NO_ASSOCIATIONS = "OBJECT_NOT_FOUND"

# an incremental search starts this far before the watermark: the search index lags
# writes a little, and re-merging a few rows is harmless
OVERLAP = timedelta(minutes=5)

# the private-app limit: requests per rolling 10-second window
RATE_LIMIT_PER_10S = 100
MAX_CONCURRENCY = 4  # objects fetched at once; they share the rate limit
REQUEST_TIMEOUT = (10, 120)  # connect, read seconds
