-- The columns each object's last sync covered, so a property newly added to seqguard.yml
-- is backfilled: the next run reads that object in full once (tasks/sync/snapshot.py).
-- Null for objects synced before this migration: their raw table's columns stand in.
alter table ops.sync_state add column columns varchar[];
