-- A sequence given by id or name, as the sequencer's id (an id wins over a name).
-- params: $sequencer, $sequence
select sequence_id from ops.sequences
where crm = $sequencer and (sequence_id = $sequence or name = $sequence)
order by sequence_id = $sequence desc, sequence_id
limit 1
