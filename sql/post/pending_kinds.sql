-- The kinds of change waiting to be posted to one sequencer.
-- params: $crm
select distinct kind from ops.outbox where crm = $crm and status = 'pending'
