-- Move one object's watermark (never backwards) and note this run.
-- params: $crm, $object, $watermark, $full_at (null unless a full sync), $synced_at, $run_id
insert into ops.sync_state as s
values ($crm, $object, $watermark, $full_at, $synced_at, $run_id)
on conflict (crm, object) do update set
    watermark = coalesce(greatest(s.watermark, excluded.watermark), s.watermark),
    last_full_sync_at = coalesce(excluded.last_full_sync_at, s.last_full_sync_at),
    last_sync_at = excluded.last_sync_at,
    last_run_id = excluded.last_run_id
