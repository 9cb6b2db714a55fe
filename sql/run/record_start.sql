-- A run starts (again, when its flow is retried).
-- params: $run_id, $started_at, $now, $dry_run
insert into ops.runs (run_id, started_at, now, dry_run, status)
values ($run_id, $started_at, $now, $dry_run, 'running')
on conflict (run_id) do update set status = 'running'
