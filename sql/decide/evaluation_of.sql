-- One evaluation (cycle) of the rules: its run id and cycle time.
-- params: $run_id
select run_id, now from rules.evaluations where run_id = $run_id
