-- A decision on a held run, with the run's status: approved runs are finished, rejected
-- ones say so. The caller has moved the held rows in the same transaction.
-- params: $run_id, $decision, $actor, $note, $via, $changes, $now
insert into ops.approvals (run_id, decision, actor, note, via, changes, decided_at)
values ($run_id, $decision, $actor, $note, $via, $changes, $now);
update ops.runs
set status = case $decision when 'rejected' then 'rejected' else 'finished' end
where run_id = $run_id and status = 'awaiting_approval'
