-- The latest cycles, newest first (`seqguard runs`): when, at what cycle time, how it
-- ended, what it decided (from ops.decisions), what it posted and holds (from
-- ops.outbox) and, for a held run, the decision on it.
-- params: $limit
with
recent as (
    select * from ops.runs order by started_at desc, run_id limit $limit
),
decided as (
    select
        run_id,
        count(distinct (email, sequence_id)) filter (where kind = 'unenroll') as unenroll,
        count(*) filter (where kind = 'enroll') as enroll,
        count(*) filter (where kind = 'block') as block,
        count(*) filter (where kind = 'skip') as skip
    from ops.decisions
    where run_id in (select run_id from recent)
    group by all
),
posted as (
    select
        run_id,
        count(*) filter (where status in ('sent', 'confirmed')) as sent,
        count(*) filter (where status = 'pending') as pending,
        count(*) filter (where status = 'held') as held,
        count(*) filter (where status in ('rejected', 'failed')) as failed,
        count(*) filter (where status = 'cancelled') as cancelled
    from ops.outbox
    where run_id in (select run_id from recent)
    group by all
),
final as (
    select
        r.run_id, r.started_at, r.now, r.dry_run, r.status,
        round(epoch(r.finished_at) - epoch(r.started_at), 1) as seconds,
        coalesce(d.unenroll, 0) as unenroll, coalesce(d.enroll, 0) as enroll,
        coalesce(d.block, 0) as block, coalesce(d.skip, 0) as skip,
        coalesce(p.sent, 0) as sent, coalesce(p.pending, 0) as pending,
        coalesce(p.held, 0) as held, coalesce(p.failed, 0) as failed,
        coalesce(p.cancelled, 0) as cancelled,
        coalesce(json_array_length(r.summary -> '$.rules.rules_failed'), 0) as rules_failed,
        a.decision, a.actor as decided_by, a.via as decided_via, a.note as decision_note,
        a.decided_at
    from recent as r
    left join decided as d using (run_id)
    left join posted as p using (run_id)
    left join ops.approvals as a using (run_id)
    order by r.started_at desc, r.run_id
)
select * from final
