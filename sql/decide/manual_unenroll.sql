-- A person's manual unenroll: each open enrollment of the target people, in one
-- sequence or all, in the same shape as unenroll.sql so the same writers record it.
-- Manual unenroll is final: no rule, so recover never undoes it. An unenroll already
-- on its way is not asked for again.
-- inputs: d_people (email); params: $sequencer, $sequence_id (null = every sequence), $actor,
-- $reason
with
open_enrollments as (
    select crm, enrollment_id, sequence_id, email, contact_id, state, step
    from ops.enrollments
    where crm = $sequencer and state in ('active', 'paused')
        and ($sequence_id is null or sequence_id = $sequence_id)
        and email in (select email from d_people)
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
