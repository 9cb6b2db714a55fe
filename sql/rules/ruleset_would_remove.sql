-- People a pending ruleset version would remove from its sequence (the default: from
-- every sequence without its own ruleset), beyond those already removed.
-- inputs: pending_open; params: $run_id, $removing, $key, $is_default, $removing_before
select o.label as sequence, count(distinct o.email) as people
from pending_open as o
join rules.matches as m
    on m.run_id = $run_id and not m.is_pending and m.email = o.email
    and list_contains($removing::varchar[], m.rule)
where (o.key = $key or ($is_default and o.key is null))
    and o.email not in (
        select email from rules.matches
        where run_id = $run_id and not is_pending
            and list_contains($removing_before::varchar[], rule))
group by 1
order by 2 desc, 1
