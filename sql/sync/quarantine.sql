-- Records that failed a check go to quarantine with the reason and the record as JSON,
-- instead of into the raw table; returns how many.
-- inputs: _checked; template: {id} column, {payload} JSON expression
-- params: $crm, $object, $run_id, $synced_at
insert into ops.quarantine
select $crm, $object, nullif(trim({id}), ''), _reason, {payload}, $run_id, $synced_at
from _checked
where _reason is not null
