-- The play items due by now, as enrollment requests (REQUEST_SCHEMA in
-- tasks/decide/requests.py). Items of a broken play file wait (fail closed); items of a
-- disabled or removed play are closed by plays.close_orphans.
-- inputs: d_plays; params: $now, $sequencer
with
due as (
    select q.*, p.allow_reenrollment, p.max_per_company, p.sender
    from ops.play_queue as q
    join d_plays as p on p.name = q.play
    where q.status = 'queued' and q.release_at <= $now and p.enabled and p.runnable
),
final as (
    select
        row_number() over (order by release_at, play, email, sequence_id) as request_id,
        'play' as source,
        play,
        email,
        sequence_id,
        $sequencer as crm,
        sender,
        allow_reenrollment,
        max_per_company,
        release_at as rank_at,
        cast(null as bigint) as start_step,
        release_at,
        'seqguard' as actor,
        cast(null as varchar) as request_rule,
        'play ' || play || coalesce(' (event at ' || strftime(event_at, '%Y-%m-%d %H:%M') || ')',
                                    '') as note
    from due
)
select * from final
