-- The clean records, typed as the raw table stores them; the latest fetched copy of each
-- id is the truth (pages are numbered in fetch order).
-- inputs: _checked; template: {typed} select list, {id} column; params: $synced_at
create or replace temp table _clean as
select {typed}, $synced_at::timestamp as _synced_at
from _checked
where _reason is null
qualify row_number() over (partition by {id} order by page_no desc) = 1
