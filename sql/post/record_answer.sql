-- Each change of a batch marked with the sequencer's answer: sent, confirmed, rejected,
-- or pending again when the outcome is unknown (retry).
-- inputs: answer (change_id, outcome, enrollment_id, response, error); params: $now
update ops.outbox x set
    status = case a.outcome when 'retry' then 'pending' else a.outcome end,
    sent_at = case when a.outcome = 'sent' then $now else x.sent_at end,
    confirmed_at = case when a.outcome = 'confirmed' then $now else x.confirmed_at end,
    enrollment_id = coalesce(a.enrollment_id, x.enrollment_id),
    response = coalesce(cast(a.response as json), x.response),
    error = a.error
from answer a
where x.change_id = a.change_id
