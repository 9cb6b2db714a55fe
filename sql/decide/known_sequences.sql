-- A few sequences the sequencer has, for an error naming an unknown one.
-- params: $sequencer
select sequence_id, name from ops.sequences where crm = $sequencer order by name limit 10
