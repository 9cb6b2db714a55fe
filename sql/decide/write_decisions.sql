-- Every decision of the run as rows: unenroll (one per enrollment and rule), skip (a
-- released play item a rule excludes), block (a manual or recovered request a rule
-- excludes, a failed rule holding a request back, or a constraint refusing it), enroll.
-- inputs: d_unenroll, d_requests, d_exclusions, d_enroll; params: $run_id, $now
with
unenrolls as (
    select 'unenroll' as kind, email, sequence_id, rule, rule_version, scope,
           source, reason
    from d_unenroll
),
skippable as (
    -- a play item is skipped for good only by a rule that ran; a failed rule holds it
    select distinct request_id from d_exclusions where scope <> 'failed'
),
excluded as (
    select
        case when r.source = 'play' and s.request_id is not null then 'skip' else 'block' end
            as kind,
        r.email, r.sequence_id, x.rule, x.rule_version, x.scope, r.source, x.reason
    from d_exclusions as x
    join d_requests as r using (request_id)
    left join skippable as s using (request_id)
),
refused as (
    select 'block' as kind, email, sequence_id, null as rule, null as rule_version,
           'constraint' as scope, source, reason
    from d_enroll
    where outcome = 'refused'
),
enrolled as (
    select 'enroll' as kind, email, sequence_id, request_rule as rule, null as rule_version,
           case source when 'play' then 'play' when 'manual' then 'manual' end as scope,
           source, note as reason
    from d_enroll
    where outcome = 'enroll'
),
final as (
    select $run_id as run_id, *, $now as decided_at
    from (
        select * from unenrolls
        union all select * from excluded
        union all select * from refused
        union all select * from enrolled
    )
)
insert into ops.decisions by name select * from final
