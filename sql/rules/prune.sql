-- Drop the old runs' run sets and scopes, and the match rows no kept run can read.
-- inputs: old_runs
delete from rules.run_sets where run_id in (select run_id from old_runs);
delete from rules.scopes where run_id in (select run_id from old_runs);
delete from rules.match_rows where to_seq <= (select min(seq) from rules.run_sets);
