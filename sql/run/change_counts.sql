-- A run's decisions counted by kind and rule, most first.
-- params: $run_id
select kind || coalesce(' / ' || rule, ''), count(*)
from ops.decisions
where run_id = $run_id
group by all
order by 2 desc
