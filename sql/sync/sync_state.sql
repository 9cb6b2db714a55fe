-- Move one object's watermark (never backwards) and note this run.
-- and the columns this run covered.
-- params: $crm, $object, $watermark, $full_at (null unless a full sync), $synced_at, $run_id,
-- $columns
insert into ops.sync_state as s
    (crm, object, watermark, last_full_sync_at, last_sync_at, last_run_id, columns)
values ($crm, $object, $watermark, $full_at, $synced_at, $run_id, $columns)
on conflict (crm, object) do update set
    watermark = coalesce(greatest(s.watermark, excluded.watermark), s.watermark),
    last_full_sync_at = coalesce(excluded.last_full_sync_at, s.last_full_sync_at),
    last_sync_at = excluded.last_sync_at,
    last_run_id = excluded.last_run_id,
    columns = excluded.columns
