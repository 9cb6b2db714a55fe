-- How many times each change has been attempted (what a read back has accounted for).
-- params: $change_ids
select change_id, attempts from ops.outbox
where change_id in (select unnest($change_ids::varchar[]))
