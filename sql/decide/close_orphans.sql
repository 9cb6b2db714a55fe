-- Queued items of a play now disabled or removed are skipped, never released later for
-- an old event; returns how many.
-- params: $live (the enabled plays)
update ops.play_queue set status = 'skipped',
    reason = 'the play was disabled or removed before release'
where status = 'queued' and not list_contains($live, play)
