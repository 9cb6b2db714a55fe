-- The plan to undo a rule's removals: everyone rule $rule unenrolled since $since (per
-- ops.enrollment_events), the step to start again at (the one after the last completed,
-- as the event or the sequencer last saw it), and whether they can come back now: not
-- while the rule still matches them in the latest run, nor while they are in that
-- sequence again. Other rules and constraints are checked by the enroll decision.
-- inputs: d_matches; params: $rule, $since, $now, $sequencer, $sender, $default_sender
with
-- unenrolls the circuit breaker held and a person rejected never happened
rejected as (
    select run_id, crm, sequence_id, lower(email) as email
    from ops.outbox
    where kind = 'unenroll' and status = 'cancelled'
),
removals as (
    select e.*
    from ops.enrollment_events as e
    anti join rejected as x
        on x.run_id = e.run_id and x.crm = e.crm and x.sequence_id = e.sequence_id
        and x.email = e.email
    where e.rule = $rule and e.to_state = 'unenrolled' and e.actor = 'seqguard'
        and e.crm = $sequencer and e.happened_at >= $since and e.happened_at <= $now
    qualify row_number() over (
        partition by crm, sequence_id, email order by happened_at desc, event_id desc
    ) = 1
),
steps as (
    select
        r.*,
        greatest(coalesce(r.step, 0), coalesce(e.step, 0)) as completed
    from removals as r
    left join ops.enrollments as e on e.crm = r.crm and e.enrollment_id = r.enrollment_id
),
open_now as (
    select crm, sequence_id, email from ops.enrollments where state in ('active', 'paused')
    union
    select crm, sequence_id, email from ops.outbox
    where kind = 'enroll' and status in ('pending', 'held', 'sent')
),
final as (
    select
        s.email, s.sequence_id, q.name as sequence_name, s.happened_at as removed_at,
        s.rule_version, s.reason as removed_because, s.completed, s.completed + 1 as start_step,
        case
            when m.email is not null then 'still_matches'
            when o.email is not null then 'already_enrolled'
            else 'ready'
        end as status,
        m.reason as matches_because,
        -- who the re-enrollment sends from: --sender, their owner, default_sender
        coalesce($sender, p.owner_email, $default_sender) as sender
    from steps as s
    left join crm.people as p on p.email = s.email
    left join d_matches as m on m.rule = $rule and m.email = s.email
    left join open_now as o
        on o.crm = s.crm and o.sequence_id = s.sequence_id and o.email = s.email
    left join ops.sequences as q on q.crm = s.crm and q.sequence_id = s.sequence_id
    order by s.email, s.sequence_id
)
select * from final
