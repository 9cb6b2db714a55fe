-- The sequencer's people for emails just looked up (registered as found_people: email,
-- contact_id); a later lookup of the same email replaces the id.
-- inputs: found_people
-- params: $crm, $now
insert or replace into raw_sequencer.people
select distinct on (crm.normalize_email(email))
    $crm as crm, crm.normalize_email(email) as email, contact_id, $now as resolved_at
from found_people
where crm.normalize_email(email) is not null and contact_id is not null
