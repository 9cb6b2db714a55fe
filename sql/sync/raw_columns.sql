-- The columns a raw snapshot table has now, lower case (none: it does not exist yet).
-- params: $schema, $table
select lower(column_name) from information_schema.columns
where table_schema = $schema and lower(table_name) = lower($table)
