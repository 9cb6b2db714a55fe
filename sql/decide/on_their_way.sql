-- Unenrolls of the people in d_people already in the outbox, not yet confirmed.
-- inputs: d_people; params: $sequencer, $sequence_id (null: every sequence)
select count(*) from ops.outbox
where crm = $sequencer and kind = 'unenroll' and status in ('pending', 'held', 'sent')
    and ($sequence_id is null or sequence_id = $sequence_id)
    and email in (select email from d_people)
