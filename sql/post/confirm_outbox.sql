-- Changes whose effect the sequencer now shows are confirmed: sent ones, and ones that may
-- have been sent before a crash or an unanswered call (pending with attempts > 0), which
-- then need no second post. Only rows whose person was read are judged ($all_covered:
-- the read covered everyone). A sent change that a later change of the same person and
-- sequence has since overtaken (paused, then resumed) was carried out: the later one
-- was only posted after it, and the sequencer accepted it. Returns each confirmed change.
update ops.outbox x
set status = 'confirmed', confirmed_at = $now, error = null,
    enrollment_id = coalesce(x.enrollment_id, v.enrollment_id)
from (
    with
    candidates as (
        select change_id, kind, sequence_id, contact_id, lower(email) as email,
               enrollment_id, attempted_at, status, created_at
        from ops.outbox
        where crm = $crm
          and (status = 'sent' or (status = 'pending' and attempts > 0))
          and ($all_covered or contact_id in (select contact_id from covered))
    ),
    person_enrollments as (
        select c.change_id, e.enrollment_id, e.state, e.enrolled_at
        from candidates c
        join ops.enrollments e
          on e.crm = $crm
         and (e.contact_id = c.contact_id or (c.contact_id is null and e.email = c.email))
         and (e.sequence_id = c.sequence_id or c.sequence_id = '*')
         -- an unenroll judges the enrollment it targeted, not a later one in the sequence
         and (c.kind <> 'unenroll' or c.enrollment_id is null
              or e.enrollment_id = c.enrollment_id)
    ),
    overtaken as (
        select c.change_id
        from candidates c
        join ops.outbox later
          on later.crm = $crm
         and coalesce(later.contact_id, lower(later.email)) = coalesce(c.contact_id, c.email)
         and later.sequence_id = c.sequence_id
         and later.status in ('sent', 'confirmed')
         and later.created_at > c.created_at
        where c.status = 'sent'
    ),
    judged as (
        select c.change_id,
               case c.kind
                   -- the enrollment the API answered with, else an open one, else one made
                   -- since the attempt (a short sequence may already have finished)
                   when 'enroll' then coalesce(bool_or(
                       p.enrollment_id = c.enrollment_id
                       or (c.enrollment_id is null and (p.state in ('active', 'paused')
                           or p.enrolled_at >= c.attempted_at - interval 10 minute))), false)
                   when 'unenroll' then not coalesce(bool_or(p.state in ('active', 'paused')), false)
                   when 'pause' then not coalesce(bool_or(p.state = 'active'), false)
                   when 'resume' then not coalesce(bool_or(p.state = 'paused'), false)
                   else false
               end as done,
               arg_max(p.enrollment_id, p.enrolled_at) as enrollment_id
        from candidates c
        left join person_enrollments p using (change_id)
        group by c.change_id, c.kind, c.enrollment_id, c.attempted_at
    ),
    final as (
        select change_id, enrollment_id from judged
        where done or change_id in (select change_id from overtaken)
    )
    select * from final
) v
where x.change_id = v.change_id
returning x.change_id
