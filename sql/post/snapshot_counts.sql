-- Of the enrollments a read saw, how many seqguard did not hold, and how many changed
-- state.
-- inputs: seen_enrollments; params: $crm
select count(*) filter (where o.enrollment_id is null),
       count(*) filter (where o.state <> s.state)
from seen_enrollments as s
left join ops.enrollments as o on o.crm = $crm and o.enrollment_id = s.enrollment_id
