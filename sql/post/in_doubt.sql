-- Changes that may have reached the sequencer without their answer being recorded:
-- pending after an attempt (of one run, when given).
-- params: $crm, $run_id (null: every run)
select change_id, kind, sequence_id, email, contact_id, sender, reason, start_step
from ops.outbox
where crm = $crm and status = 'pending' and attempts > 0
    and ($run_id::varchar is null or run_id = $run_id)
