-- The open enrollments, labelled by sequence name (or id), each with the rulesets.yml or
-- play key that names its sequence (null: the default ruleset's).
-- inputs: pending_keys (key)
create or replace temp table pending_open as
with open_enrollments as (
    select e.email, e.sequence_id, s.name
    from ops.enrollments as e
    left join ops.sequences as s on s.crm = e.crm and s.sequence_id = e.sequence_id
    where e.state in ('active', 'paused')
)
select o.email, coalesce(o.name, o.sequence_id) as label, k.key
from open_enrollments as o
left join pending_keys as k on k.key = o.sequence_id or k.key = o.name
