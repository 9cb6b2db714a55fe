-- The changes of an action a user asked for that the sequencer refused or that could not
-- be posted, oldest first.
-- params: $change_ids
select kind, email, sequence_id, crm, error
from ops.outbox
where change_id in (select unnest($change_ids::varchar[]))
    and status in ('rejected', 'failed')
order by created_at, change_id
