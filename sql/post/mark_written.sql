-- Changes whose request demonstrably reached the sequencer are sent (a later read
-- confirms their effect).
-- params: $now, $change_ids
update ops.outbox set status = 'sent', sent_at = $now, error = null
where status = 'pending' and change_id in (select unnest($change_ids::varchar[]))
