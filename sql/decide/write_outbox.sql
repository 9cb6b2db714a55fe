-- New changes go to the outbox as pending; the poster sends them.
-- inputs: d_new_changes; params: $run_id, $now
insert into ops.outbox by name
select
    change_id, $run_id as run_id, $now as created_at, kind, crm, sequence_id, email,
    contact_id, sender, rule, rule_version, reason, actor, 'pending' as status,
    start_step, enrollment_id  -- an unenroll's target; an enroll's comes with the answer
from d_new_changes
