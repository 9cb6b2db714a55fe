-- One row per rule step of a run (the decision step decides only on evaluated runs).
-- params: $run_id, $now, $started_at, $seconds, $rules_run, $rules_failed, $matches
insert or replace into rules.evaluations
values ($run_id, $now, $started_at, $seconds, $rules_run, $rules_failed, $matches)
