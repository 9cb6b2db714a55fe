-- Every id and name of the sequencer's sequences (a play names its sequence by either).
-- params: $sequencer
select sequence_id from ops.sequences where crm = $sequencer
union
select name from ops.sequences where crm = $sequencer
