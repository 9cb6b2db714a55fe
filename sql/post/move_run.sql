-- A run's changes from one status to another (held, released, cancelled, with why);
-- returns each moved change.
-- params: $run_id, $from_status, $to_status, $error (null: keep the error)
update ops.outbox set status = $to_status, error = coalesce($error, error)
where run_id = $run_id and status = $from_status
returning change_id
