-- Every person with an open enrollment at the sequencer: what a read that lists every
-- enrollment covers (one it no longer lists has ended).
-- params: $crm
select distinct contact_id
from ops.enrollments
where crm = $crm and state in ('active', 'paused') and contact_id is not null
