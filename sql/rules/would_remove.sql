-- People a pending rule version would remove, per sequence: matched by the pending
-- version where it removes, and not already removed by the version in force.
-- inputs: pending_open, pending_removes; params: $run_id, $rule, $new_version, $old_version
select o.label as sequence, count(distinct o.email) as people
from pending_open as o
join pending_removes as r on r.key is not distinct from o.key
join rules.matches as m
    on m.run_id = $run_id and m.rule = $rule and m.version = $new_version
    and m.is_pending and m.email = o.email
where r.removes_new
    and not (r.removes_old and exists (
        select 1 from rules.matches as x
        where x.run_id = $run_id and x.rule = $rule and x.version = $old_version
            and not x.is_pending and x.email = o.email))
group by 1
order by 2 desc, 1
