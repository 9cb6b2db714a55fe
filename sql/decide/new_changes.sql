-- The changes of this decision the outbox does not hold yet (a re-run writes none).
-- inputs: d_changes
create or replace temp table d_new_changes as
select * from d_changes anti join ops.outbox using (change_id)
