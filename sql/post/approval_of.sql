-- The decision recorded on a run, if any.
-- params: $run_id
select run_id, decision, actor, note, via, changes, decided_at
from ops.approvals
where run_id = $run_id
