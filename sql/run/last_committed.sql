-- The latest cycle time whose decisions were committed: a run that finished (or waits for
-- approval), or any that wrote changes to post (one that crashed after deciding).
-- params: $run_id (the run asking, left out)
select run_id, now from ops.runs
where not dry_run and run_id <> $run_id
    and (status in ('finished', 'awaiting_approval')
         or run_id in (select run_id from ops.outbox where run_id is not null))
order by now desc
limit 1
