-- How many changes still wait to be posted to one sequencer (of one run, when given).
-- params: $crm, $run_id (null: every run)
select count(*) from ops.outbox
where crm = $crm and status = 'pending' and ($run_id::varchar is null or run_id = $run_id)
