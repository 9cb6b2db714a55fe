-- A manual unenroll also stops enrollments seqguard asked for and has not posted yet
-- (pending or held), so they never reach the sequencer after the user said no. The row
-- stays, marked rejected with why: the outbox keeps its history.
-- inputs: d_people (email); params: $sequencer, $sequence_id (null = every sequence), $reason
update ops.outbox
set status = 'rejected', error = 'cancelled before posting: ' || $reason
where crm = $sequencer and kind = 'enroll' and status in ('pending', 'held')
    and ($sequence_id is null or sequence_id = $sequence_id)
    and email in (select email from d_people)
