-- One history row per enrollment that is new or changed state since the last read. The
-- sequencer made the change (actor 'sequencer'); when a posted seqguard change explains
-- it, the reason names that change. The decision itself (actor, rule, run) was recorded
-- when it was made (sql/decide/write_events.sql), so rules are not repeated here: a rule's
-- removals are counted once.
insert into ops.enrollment_events (happened_at, run_id, crm, enrollment_id, sequence_id,
    email, from_state, to_state, step, actor, rule, rule_version, reason)
with
changed as (
    select s.*, o.state as from_state
    from seen_enrollments s
    left join ops.enrollments o on o.crm = $crm and o.enrollment_id = s.enrollment_id
    where o.enrollment_id is null or o.state <> s.state
),
causes as (
    select c.enrollment_id, x.change_id, x.run_id, x.actor, x.rule
    from changed c
    join ops.outbox x
      on x.crm = $crm
     and x.status in ('sent', 'pending', 'confirmed')
     and (x.contact_id = c.contact_id or (x.contact_id is null and lower(x.email) = c.email))
     and (x.sequence_id = c.sequence_id or (x.kind = 'unenroll' and x.sequence_id = '*'))
     and (
            (x.kind = 'enroll' and c.from_state is null)
         or (x.kind = 'unenroll' and c.state = 'unenrolled')
         or (x.kind = 'pause' and c.state = 'paused')
         or (x.kind = 'resume' and c.state = 'active' and c.from_state = 'paused')
     )
    qualify row_number() over (partition by c.enrollment_id order by x.created_at desc) = 1
),
final as (
    select c.updated_at as happened_at, k.run_id, $crm as crm, c.enrollment_id,
           c.sequence_id, c.email, c.from_state, c.state as to_state, c.step,
           'sequencer' as actor, null as rule, null as rule_version,
           case when k.change_id is not null
                then 'posted change ' || k.change_id || ' by ' || k.actor
                     || coalesce(' (' || k.rule || ')', '')
           end as reason
    from changed c
    left join causes k using (enrollment_id)
)
select * from final
