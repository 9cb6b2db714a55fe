-- A person's manual unenroll: each open enrollment of the target people, in one
-- sequence or all, in the same shape as unenroll.sql so the same writers record it.
-- Enrollments seqguard posted and no read has shown yet count as open.
-- Manual unenroll is final: no rule, so recover never undoes it. An unenroll already
-- on its way is not asked for again.
-- inputs: d_people (email); params: $sequencer, $sequence_id (null = every sequence), $actor,
-- $reason
with
read_enrollments as (
    select crm, enrollment_id, sequence_id, email, contact_id, state, step
    from ops.enrollments
    where crm = $sequencer and state in ('active', 'paused')
        and ($sequence_id is null or sequence_id = $sequence_id)
        and email in (select email from d_people)
),
-- enrollments seqguard itself posted (a manual enroll, a play, a recover) that no read
-- has shown yet: the sequencer is sending them steps, so they count as active until a
-- read says otherwise (the read confirms the row, or shows the enrollment ended)
posted_enrollments as (
    select x.crm, x.enrollment_id, x.sequence_id, lower(x.email) as email, x.contact_id,
           'active' as state, coalesce(x.start_step - 1, 0) as step
    from ops.outbox as x
    where x.crm = $sequencer and x.kind = 'enroll' and x.status = 'sent'
        and ($sequence_id is null or x.sequence_id = $sequence_id)
        and lower(x.email) in (select email from d_people)
        and (x.enrollment_id is null or x.enrollment_id not in (
            select enrollment_id from ops.enrollments where crm = $sequencer))
    qualify row_number() over (
        partition by x.crm, x.sequence_id, lower(x.email) order by x.sent_at desc) = 1
),
open_enrollments as (
    select * from read_enrollments
    union all by name
    select p.* from posted_enrollments as p
    anti join read_enrollments as r
        on r.crm = p.crm and r.sequence_id = p.sequence_id and r.email = p.email
),
-- keyed by the enrollment it targets: a person enrolled again after an unenroll was
-- sent is a new enrollment, and is removed again (rows from before the outbox kept the
-- enrollment hold the whole sequence)
in_flight as (
    select distinct crm, sequence_id, email, enrollment_id
    from ops.outbox
    where kind = 'unenroll' and status in ('pending', 'held', 'sent')
),
final as (
    select
        e.*,
        cast(null as varchar) as rule,
        cast(null as varchar) as rule_version,
        'manual' as scope,
        $reason as reason,
        true as is_primary,
        'manual' as source,
        $actor as actor
    from open_enrollments as e
    anti join in_flight as f
        on f.crm = e.crm and f.sequence_id = e.sequence_id and f.email = e.email
        and (f.enrollment_id is null or f.enrollment_id = e.enrollment_id)
)
select * from final
