-- What each pending version will change once effective, as a run stored it.
-- params: $run_id
select * exclude (run_id) from rules.pending_changes
where run_id = $run_id
order by kind desc, name
