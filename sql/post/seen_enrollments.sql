-- The sequencer's enrollments as just read (table `seen`), plus the open enrollments of
-- fully read contacts (table `covered`) that it no longer lists: those have ended.
create or replace temp table seen_enrollments as
with
read as (
    select s.enrollment_id, s.sequence_id,
           lower(trim(coalesce(s.email, o.email, ''))) as email,
           coalesce(s.contact_id, o.contact_id) as contact_id,
           s.state, coalesce(s.step, o.step) as step,
           coalesce(s.enrolled_at, o.enrolled_at) as enrolled_at,
           coalesce(s.updated_at, s.enrolled_at, $now) as updated_at
    from seen s
    left join ops.enrollments o on o.crm = $crm and o.enrollment_id = s.enrollment_id
    where s.enrollment_id is not null
    qualify row_number() over (partition by s.enrollment_id order by s.updated_at desc) = 1
),
vanished as (
    select o.enrollment_id, o.sequence_id, o.email, o.contact_id,
           -- ended by seqguard's unenroll if one was sent for it, else by the sequencer
           case when exists (
               select 1 from ops.outbox x
               where x.crm = $crm and x.kind = 'unenroll' and x.status in ('sent', 'pending')
                 and x.contact_id = o.contact_id and x.sequence_id in (o.sequence_id, '*')
           ) then 'unenrolled' else 'finished' end as state,
           o.step, o.enrolled_at, $now as updated_at
    from ops.enrollments o
    where o.crm = $crm and o.state in ('active', 'paused')
      and o.contact_id in (select contact_id from covered)
      and o.enrollment_id not in (select enrollment_id from read)
),
final as (
    select * from read
    union all by name
    select * from vanished
)
select * from final
