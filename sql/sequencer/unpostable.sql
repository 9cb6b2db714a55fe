-- Changes whose person the sequencer of its own does not have cannot be posted (seqguard
-- never creates people there): they fail with the reason; returns each error.
-- params: $crm
update ops.outbox
set status = 'failed',
    error = 'no ' || crm || ' person with email ' || email
        || '; add the person in ' || crm || ' (seqguard never creates one)'
where crm = $crm and status = 'pending' and contact_id is null
returning error
