-- The targets whose changes wait to be seen at Salesforce: sent, or attempted without an
-- answer; every tracker of theirs is read.
-- params: $crm
select distinct contact_id from ops.outbox
where crm = $crm and contact_id is not null
    and (status = 'sent' or (status = 'pending' and attempts > 0))
