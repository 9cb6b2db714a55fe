-- The next run sequence number: after every range stored so far, even when pruning
-- emptied the run table.
-- template: {run_sets}, {rows} the tables of a match store
select greatest((select coalesce(max(seq), 0) from {run_sets}),
    (select coalesce(greatest(max(from_seq), max(to_seq)), 0) from {rows})) + 1
