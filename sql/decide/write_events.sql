-- History: what seqguard (or a user) asked of each enrollment, with the rule and run.
-- Recovery reads these rows to find whom a rule removed.
-- inputs: d_new_changes; params: $run_id, $now
insert into ops.enrollment_events by name
select
    $now as happened_at, $run_id as run_id, crm, enrollment_id, sequence_id, email,
    from_state,
    case kind when 'unenroll' then 'unenrolled' else 'active' end as to_state,
    step, actor, rule, rule_version, reason
from d_new_changes
