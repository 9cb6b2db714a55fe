-- What the decision step needs beyond 003's tables.
-- A recovered enrollment restarts at the step after the last one completed: the outbox
-- row carries that step so the adapter can start there (null = from the first step).
alter table ops.outbox add column start_step integer;
-- Why a play item was refused (a constraint rather than a rule: one open sequence,
-- never the same sequence twice, the company cap, no record in the sequencer's CRM).
alter table ops.play_queue add column reason varchar;
