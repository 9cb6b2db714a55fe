-- HubSpot's enrollments as seqguard can know them, in the shape of seen_enrollments.sql.
-- Which enrollment a contact is in comes from the status call (table `seen`) or, for
-- seqguard's own, from the enroll call's answer on the outbox row (once the contact's
-- properties show it); whether it is still open, and how it ended, from the contact's
-- sequence properties. Open is 'active' (HubSpot shows no pause) and the step is unknown.
-- An enrollment is judged ended only on evidence: the contact was deleted, a later
-- enrollment began (one sequence at a time), or the contact is in no sequence and an
-- unenrolled or finished time is at or after its start. Without it, it stays open (an
-- unenroll is not claimed before HubSpot shows it).
-- inputs: seen, hubspot_sequence_props, ops.enrollments, ops.outbox; params: $now, $tolerance
create or replace temp table seen_enrollments as
with
read as (
    select s.enrollment_id, s.sequence_id,
           lower(trim(coalesce(s.email, o.email, ''))) as email, s.contact_id,
           s.enrolled_at, coalesce(s.updated_at, s.enrolled_at) as updated_at,
           o.state as held_state, true as listed
    from seen as s
    left join ops.enrollments as o on o.crm = 'hubspot' and o.enrollment_id = s.enrollment_id
    where s.enrollment_id is not null
    qualify row_number() over (partition by s.enrollment_id order by s.updated_at desc) = 1
),
answered as (
    select x.enrollment_id, x.sequence_id, lower(trim(x.email)) as email, x.contact_id,
           hubspot_time(x.response ->> 'enrolledAt') as enrolled_at,
           hubspot_time(x.response ->> 'updatedAt') as updated_at,
           null as held_state, true as listed
    from ops.outbox as x
    join hubspot_sequence_props as p on p.contact_id = x.contact_id
    where x.crm = 'hubspot' and x.kind = 'enroll' and x.status = 'sent'
      and x.enrollment_id is not null
      and x.enrollment_id not in (select enrollment_id from read)
      and x.enrollment_id not in (
          select enrollment_id from ops.enrollments where crm = 'hubspot')
      and epoch(p.latest_enrolled_at)
          >= epoch(hubspot_time(x.response ->> 'enrolledAt')) - $tolerance
),
held as (
    select enrollment_id, sequence_id, email, contact_id, enrolled_at, updated_at,
           state as held_state, false as listed
    from ops.enrollments
    where crm = 'hubspot' and state in ('active', 'paused')
      and enrollment_id not in (select enrollment_id from read)
),
candidates as (
    select * from read
    union all by name select * from answered
    union all by name select * from held
),
evidence as (
    select
        c.*, p.unenrolled_at, p.finished_at,
        coalesce(p.is_enrolled and p.latest_sequence = c.sequence_id
                 and abs(epoch(p.latest_enrolled_at) - epoch(c.enrolled_at)) <= $tolerance,
                 false) as is_current,
        coalesce(p.archived, false)
            or coalesce(epoch(p.latest_enrolled_at) > epoch(c.enrolled_at) + $tolerance,
                        false)
            or (not coalesce(p.is_enrolled, true)
                and coalesce(p.unenrolled_at >= c.enrolled_at
                             or p.finished_at >= c.enrolled_at, false)) as ended,
        coalesce(p.unenrolled_at >= c.enrolled_at
                 and (p.finished_at is null or p.finished_at < c.enrolled_at
                      or p.unenrolled_at >= p.finished_at), false) as by_unenroll,
        coalesce(p.finished_at >= c.enrolled_at, false) as by_finish,
        exists (
            select 1 from ops.outbox as x
            where x.crm = 'hubspot' and x.kind = 'unenroll'
              and x.status in ('sent', 'pending', 'confirmed')
              and x.contact_id = c.contact_id and x.sequence_id in (c.sequence_id, '*')
        ) as unenroll_sent
    from candidates as c
    left join hubspot_sequence_props as p using (contact_id)
),
judged as (
    select *,
           case
               when is_current or not ended then 'active'
               when by_unenroll then 'unenrolled'
               when by_finish then 'finished'
               when unenroll_sent then 'unenrolled'
               else 'finished'
           end as state
    from evidence
),
final as (
    select enrollment_id, sequence_id, email, contact_id, state, null::integer as step,
           enrolled_at,
           case
               when state = 'active' then updated_at
               when state = 'unenrolled' and by_unenroll then unenrolled_at
               when state = 'finished' and by_finish then finished_at
               else $now
           end as updated_at
    from judged
    where listed or state is distinct from held_state
)
select * from final
