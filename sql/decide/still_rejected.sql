-- Open enrollments the decision left alone because a person rejected their unenroll
-- and the same rule version still matches them (and nothing else removes them now): the
-- report's "rejected before".
-- inputs: d_rejected, d_matches, d_unenroll
select count(distinct (e.crm, e.enrollment_id))
from d_rejected as x
join ops.enrollments as e
    on e.crm = x.crm and e.enrollment_id = x.enrollment_id and e.state in ('active', 'paused')
join d_matches as m
    on m.email = e.email and m.rule = x.rule
    and m.rule_version is not distinct from x.rule_version
where (e.crm, e.enrollment_id) not in (select (crm, enrollment_id) from d_unenroll)
