-- The associations this run read, stored in place of the ones forgotten above.
-- template: {associations} staging table; params: $synced_at
insert into raw_hubspot.associations
select distinct from_type, from_id, to_type, to_id, $synced_at::timestamp
from {associations}
