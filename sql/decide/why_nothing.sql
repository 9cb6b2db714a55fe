-- Why a decision changed nothing: how many sequences the sequencer has, how many people are
-- in one now, and how many play items wait (tasks/decide/decide.py `why_nothing`).
-- params: $sequencer
select
    (select count(*) from ops.sequences where crm = $sequencer) as sequences,
    (select count(*) from ops.enrollments
     where crm = $sequencer and state in ('active', 'paused')) as enrolled,
    (select count(*) from ops.play_queue where status = 'queued') as queued
