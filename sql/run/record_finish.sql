-- A run ends: finished, or awaiting approval; its summary kept (secrets redacted).
-- params: $run_id, $status, $finished_at, $summary
update ops.runs set status = $status, finished_at = $finished_at, summary = $summary
where run_id = $run_id
