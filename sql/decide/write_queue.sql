-- Released play items take their outcome: enrolled, skipped (with the first rule that
-- excluded them) or refused (with the constraint). An item held back only by a failed
-- rule stays queued and is tried again next cycle.
-- inputs: d_requests, d_exclusions, d_enroll; params: $run_id
with
first_rule as (
    select request_id, rule
    from d_exclusions
    where scope <> 'failed'
    qualify row_number() over (
        partition by request_id
        order by case scope when 'global' then 0 when 'ruleset' then 1 else 2 end, rule
    ) = 1
),
outcomes as (
    select
        e.play, e.email, e.sequence_id, e.release_at,
        case
            when e.outcome = 'enroll' then 'enrolled'
            when e.outcome = 'refused' then 'refused'
            when f.rule is not null then 'skipped'
            else 'queued'
        end as status,
        f.rule,
        e.reason
    from d_enroll as e
    left join first_rule as f using (request_id)
    where e.source = 'play'
)
update ops.play_queue as q
set status = o.status, rule = o.rule, reason = o.reason, decided_run = $run_id
from outcomes as o
where q.play = o.play and q.email = o.email and q.sequence_id = o.sequence_id
    and q.release_at = o.release_at and q.status = 'queued'
