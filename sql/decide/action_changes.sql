-- A manual action's outbox rows, as the command reports them.
-- params: $action_id
select change_id, kind, email, sequence_id, status, error, start_step
from ops.outbox
where run_id = $action_id
order by email, sequence_id
