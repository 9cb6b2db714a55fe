-- The clean records into the raw table: new ids inserted, known ones updated.
-- inputs: _clean; template: {raw} table, {id} column, {updates} set list
insert into {raw} by name
select * from _clean
on conflict ({id}) do update set {updates}
