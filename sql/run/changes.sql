-- A run's decisions, the first $cap of them, for the report's table of changes.
-- params: $run_id, $cap
select kind, email, sequence_id, rule, scope, reason
from ops.decisions
where run_id = $run_id
order by kind, rule, email
limit $cap
