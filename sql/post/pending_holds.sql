-- Runs the circuit breaker held that nobody has decided yet, oldest first, with the
-- unenrolls each holds: a run started meanwhile says so (the people they hold are not
-- asked for again until the hold is decided).
-- params: $run_id (the asking run, left out)
select o.run_id, r.now, count(*) as held, min(o.created_at) as held_since
from ops.outbox as o
left join ops.runs as r using (run_id)
where o.status = 'held' and o.run_id <> $run_id
group by all
order by held_since, o.run_id
