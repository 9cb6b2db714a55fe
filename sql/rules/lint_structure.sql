-- Every table and column of the real database, which lint's dry run copies (empty).
select table_schema, table_name, column_name, data_type
from information_schema.columns
where table_schema not in ('information_schema', 'pg_catalog')
order by table_schema, table_name, ordinal_position
