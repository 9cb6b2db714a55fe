-- Pending changes name people by email; the sequencer needs the CRM's record id (and
-- HubSpot a sender). Both come from crm.people: the id in this CRM, the owner as sender.
update ops.outbox x
set contact_id = coalesce(x.contact_id, p.contact_id),
    sender = coalesce(x.sender, p.owner_email)
from (
    with
    people as (
        select email,
               case $crm when 'hubspot' then cast(hubspot_id as varchar)
                         else coalesce(salesforce_contact_id, salesforce_lead_id) end
                   as contact_id,
               owner_email
        from crm.people
    ),
    final as (
        select * from people where contact_id is not null
        qualify row_number() over (partition by email order by contact_id) = 1
    )
    select * from final
) p
where x.crm = $crm and x.status = 'pending' and lower(x.email) = p.email
  and (x.contact_id is null or (x.sender is null and x.kind = 'enroll'))
