-- HubSpot v4 association batch-read pages unpacked into (from, to) rows.
-- inputs: pages (page_no, body); params: $from_type, $to_type
with
r as (
    select unnest(from_json(body,
        '{"results":[{"from":{"id":"VARCHAR"},"to":[{"toObjectId":"VARCHAR"}]}]}'
    ).results) as r, page_no
    from pages
),
t as (
    select page_no, r."from".id as from_id, unnest(r."to") as t from r
)
select page_no, $from_type as from_type, from_id, $to_type as to_type, t.toObjectId as to_id
from t
where from_id is not null and t.toObjectId is not null
