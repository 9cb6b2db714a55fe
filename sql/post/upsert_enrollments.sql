-- ops.enrollments holds the latest read of every enrollment; nothing is deleted.
insert into ops.enrollments (crm, enrollment_id, sequence_id, email, contact_id, state, step,
    enrolled_at, updated_at, seen_at)
select $crm, enrollment_id, sequence_id, email, contact_id, state, step, enrolled_at,
       updated_at, $now
from seen_enrollments
on conflict (crm, enrollment_id) do update set
    sequence_id = excluded.sequence_id, email = excluded.email,
    contact_id = excluded.contact_id, state = excluded.state, step = excluded.step,
    enrolled_at = excluded.enrolled_at, updated_at = excluded.updated_at,
    seen_at = excluded.seen_at
