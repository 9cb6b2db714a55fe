-- The sequences the sequencer has now (names change; none is ever deleted here).
-- inputs: seen_sequences (sequence_id, name); params: $crm, $now
insert into ops.sequences
select $crm, sequence_id, name, $now from seen_sequences
on conflict (crm, sequence_id) do update set
    name = excluded.name, seen_at = excluded.seen_at
