-- The evaluations beyond the last $keep_runs, whose matches and scopes are dropped.
-- params: $keep_runs
create or replace temp table old_runs as
select run_id from rules.evaluations
order by now desc, started_at desc
offset $keep_runs
