-- Committed before a call: after a crash these changes are known to be in doubt.
-- params: $now, $change_ids
update ops.outbox set attempts = attempts + 1, attempted_at = $now
where change_id in (select unnest($change_ids::varchar[]))
