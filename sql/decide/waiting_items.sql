-- Released play items that wait because their play's file is broken (fail closed).
-- inputs: d_plays; params: $now
select q.play, count(*)
from ops.play_queue as q
join d_plays as p on p.name = q.play
where q.status = 'queued' and q.release_at <= $now and not p.runnable
group by all
