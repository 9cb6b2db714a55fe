-- Every crm.* table's columns, their types and where each comes from (the column comments
-- the model writes, sql/model/column_comments.sql and the configured columns), in order.
select table_name, column_name, data_type, coalesce(comment, '') as source
from duckdb_columns()
where schema_name = 'crm' and database_name = current_database()
order by table_name, column_index
