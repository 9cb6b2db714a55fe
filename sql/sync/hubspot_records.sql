-- HubSpot record pages (`results[]` of list and search answers) unpacked into one text
-- column per field; DuckDB parses the JSON in bulk (tasks/sync/snapshot.py PageStager).
-- inputs: pages (page_no, body)
-- template: {struct} the JSON shape of a record, {fields} the property columns
-- params: $archived_since (null: every record; else archived ones only since then: the
-- archived listing has no filter of its own)
with recs as (
    select page_no, unnest(from_json(body, '{{"results":[{struct}]}}').results) as r
    from pages
)
select page_no, r.id as id, r.createdAt as created_at, r.updatedAt as updated_at,
       r.archived as archived, r.archivedAt as archived_at, {fields}
from recs
where $archived_since::timestamp is null
    or r.archivedAt is null
    or timezone('UTC', try_cast(r.archivedAt as timestamptz)) >= $archived_since::timestamp
