-- The emails of pending changes to a sequencer of its own that name no person of it yet
-- and whose person seqguard has not looked up before.
-- params: $crm
select distinct crm.normalize_email(x.email) as email
from ops.outbox as x
where x.crm = $crm
    and x.status = 'pending'
    and x.contact_id is null
    and crm.normalize_email(x.email) is not null
    and crm.normalize_email(x.email) not in (
        select email from raw_sequencer.people where crm = $crm
    )
