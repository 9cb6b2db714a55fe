-- Where the next activity read starts: the latest updated_at the sequencer gave.
-- params: $crm
select max(updated_at) from raw_sequencer.activity where crm = $crm
