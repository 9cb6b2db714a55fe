-- Every table's columns in one catalog of a database (lint's dry run).
-- params: $catalog
select table_schema || '.' || table_name, list(column_name)
from information_schema.columns
where table_catalog = $catalog
group by all
