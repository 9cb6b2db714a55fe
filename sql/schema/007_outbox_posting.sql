-- What the poster needs beyond 003's outbox: when a row was last handed to the
-- sequencer (so a crash leaves a visible "may have been sent" mark), and which
-- enrollment a posted change created or ended (so it is confirmed on that exact
-- enrollment, not on an older one of the same person and sequence).
-- Status gains 'held' (a run the circuit breaker stopped; its rows wait for approval) and
-- 'cancelled' (the approver said no).
alter table ops.outbox add column attempted_at timestamp;
alter table ops.outbox add column enrollment_id varchar;
