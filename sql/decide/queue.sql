-- New play queue items from this cycle's audiences. A row with an event time is queued
-- once per event, released at event time + the play's delay (crm_event: 20-30 min);
-- a row without one (schedule, manual) is released at once, and is queued again only
-- when the play allows re-enrollment, nothing of it is still queued, and the person is
-- not in the sequence now. Exclusions are not checked here: at release (DESIGN).
-- inputs: d_audience (play, email, event_at), d_plays; params: $now, $sequencer
with
audience as (
    select distinct a.play, lower(trim(a.email)) as email, a.event_at
    from d_audience as a
    where nullif(trim(a.email), '') is not null
),
resolved as (
    -- the play's sequence by id, else by name, at this sequencer
    select a.*, p.allow_reenrollment, p.delay_seconds, s.sequence_id
    from audience as a
    join d_plays as p on p.name = a.play
    join ops.sequences as s
        on s.crm = $sequencer and (s.sequence_id = p.sequence or s.name = p.sequence)
    qualify row_number() over (
        partition by a.play, a.email, a.event_at
        order by s.sequence_id = p.sequence desc, s.sequence_id
    ) = 1
),
open_now as (
    select sequence_id, email from ops.enrollments
    where crm = $sequencer and state in ('active', 'paused')
    union
    select sequence_id, email from ops.outbox
    where crm = $sequencer and kind = 'enroll' and status in ('pending', 'held', 'sent')
),
new_events as (
    select r.*
    from resolved as r
    anti join ops.play_queue as q
        on q.play = r.play and q.email = r.email and q.sequence_id = r.sequence_id
        and q.event_at = r.event_at
    where r.event_at is not null
),
new_standing as (
    select r.*
    from resolved as r
    anti join ops.play_queue as q
        on q.play = r.play and q.email = r.email and q.sequence_id = r.sequence_id
        and q.event_at is null
        and (q.status = 'queued' or not r.allow_reenrollment)
    anti join open_now as o on o.sequence_id = r.sequence_id and o.email = r.email
    where r.event_at is null
),
final as (
    select
        play, email, sequence_id, event_at, $now as queued_at,
        coalesce(event_at, $now) + to_seconds(delay_seconds) as release_at,
        'queued' as status
    from (select * from new_events union all select * from new_standing)
)
select * from final
