-- The people queued this cycle (once per play, person and event).
-- inputs: d_queue
insert into ops.play_queue by name select * from d_queue on conflict do nothing
