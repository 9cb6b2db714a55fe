-- The HubSpot contacts whose enrollment the status call must read: those whose sequence
-- properties say they are in a sequence now, in an enrollment seqguard does not know (a
-- rep enrolled them, or seqguard did and recorded no answer). An enrollment is known when
-- seqguard holds it (ops.enrollments) or the enroll call answered it (the outbox row),
-- with the same sequence and an enrolled time within $tolerance seconds. Everyone else
-- needs no call: the properties say who stayed and who left. Oldest change first, at most
-- $limit (the rest are read next cycle).
-- inputs: hubspot_sequence_props; params: $tolerance, $limit
with
enrolled as (
    select * from hubspot_sequence_props where is_enrolled and not archived
),
known as (
    select contact_id, sequence_id, enrolled_at
    from ops.enrollments
    where crm = 'hubspot'
    union all
    select contact_id, sequence_id, hubspot_time(response ->> 'enrolledAt')
    from ops.outbox
    where crm = 'hubspot' and kind = 'enroll' and enrollment_id is not null
      and status in ('sent', 'confirmed')
),
unknown as (
    select p.contact_id, p.updated_at
    from enrolled as p
    where not exists (
        select 1 from known as k
        where k.contact_id = p.contact_id and k.sequence_id = p.latest_sequence
          and abs(epoch(k.enrolled_at) - epoch(p.latest_enrolled_at)) <= $tolerance
    )
),
final as (
    select contact_id from unknown order by updated_at, contact_id limit $limit
)
select * from final
