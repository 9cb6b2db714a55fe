-- HubSpot's calculated sequence properties of every synced contact, typed (the sync keeps
-- them as HubSpot's text; settings.SEQUENCE_PROPERTIES names them): in a sequence now, the
-- latest enrolled sequence (its id) and when, the latest unenrolled and finished times,
-- and when the contact last changed. Archived contacts stay: their enrollments ended.
create or replace temp macro hubspot_time(t) as coalesce(
    timezone('UTC', try_cast(trim(t) as timestamptz)),
    case when regexp_full_match(trim(t), '[0-9]{1,15}')
         then make_timestamp(cast(trim(t) as bigint) * 1000) end);
create or replace temp view hubspot_sequence_props as
select
    cast(id as varchar) as contact_id,
    coalesce(archived, false) as archived,
    coalesce(lower(trim(hs_sequences_is_enrolled)) = 'true', false) as is_enrolled,
    nullif(trim(hs_latest_sequence_enrolled), '') as latest_sequence,
    hubspot_time(hs_latest_sequence_enrolled_date) as latest_enrolled_at,
    hubspot_time(hs_latest_sequence_unenrolled_date) as unenrolled_at,
    hubspot_time(hs_latest_sequence_finished_date) as finished_at,
    updated_at
from raw_hubspot.contacts;
