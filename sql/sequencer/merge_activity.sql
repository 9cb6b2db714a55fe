-- What the sequencer recorded about its emails (registered as read_activity,
-- ACTIVITY_SCHEMA), merged by id: a re-read replaces the row.
-- inputs: read_activity
-- params: $crm, $now
insert or replace into raw_sequencer.activity
select distinct on (activity_id)
    $crm as crm, activity_id, crm.normalize_email(email) as email, contact_id, kind,
    sequence_id, occurred_at, updated_at, $now as _synced_at
from read_activity
where activity_id is not null and kind is not null
order by activity_id, updated_at desc nulls last
