-- Pending changes to a sequencer of its own name people by email; it needs its own
-- person id (raw_sequencer.people, looked up through the adapter) and, for an enroll
-- with no sender, the person's CRM owner as sender.
-- params: $crm
update ops.outbox x
set contact_id = coalesce(x.contact_id, p.contact_id),
    sender = coalesce(x.sender, p.owner_email)
from (
    select s.email, s.contact_id, c.owner_email
    from raw_sequencer.people as s
    left join crm.people as c on c.email = s.email
    where s.crm = $crm
) p
where x.crm = $crm and x.status = 'pending' and crm.normalize_email(x.email) = p.email
  and (x.contact_id is null or (x.sender is null and x.kind = 'enroll'))
