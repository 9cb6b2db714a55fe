-- Changes whose person has no record at this sequencer's CRM cannot be posted: they fail
-- with the reason; returns each error.
-- params: $crm
update ops.outbox
set status = 'failed',
    error = 'no ' || crm || ' record with email ' || email
        || ' in crm.people; sync the CRM, or the person was deleted'
where crm = $crm and status = 'pending' and contact_id is null
returning error
