-- Every staged record of one object with the first thing wrong with it (null: clean) and
-- its modification time, the cursor the watermark follows (tasks/sync/snapshot.py).
-- template: {staging} table, {reason} CASE expression, {cursor} expression
create or replace temp table _checked as
select *, {reason} as _reason, {cursor} as _cursor
from {staging}
