-- How many clean records are tombstones of records the raw table holds alive.
-- inputs: _clean; template: {raw} table, {id} and {tombstone} columns
select count(*)
from _clean as c
left join {raw} as r on r.{id} = c.{id}
where c.{tombstone} and not coalesce(r.{tombstone}, false)
