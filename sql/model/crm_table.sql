-- The shape of one crm.* table from DuckDB's catalog (tasks/model.py `replace_table`): its
-- DDL (null: no such table), its columns and their types in order, its primary key
-- columns (null: none) and the statements of its indexes.
-- params: $table
select
    (select sql from duckdb_tables()
     where schema_name = 'crm' and table_name = $table) as ddl,
    (select list(column_name order by column_index) from duckdb_columns()
     where schema_name = 'crm' and table_name = $table) as columns,
    (select list(data_type order by column_index) from duckdb_columns()
     where schema_name = 'crm' and table_name = $table) as types,
    (select any_value(constraint_column_names) from duckdb_constraints()
     where schema_name = 'crm' and table_name = $table
         and constraint_type = 'PRIMARY KEY') as primary_key,
    (select coalesce(list(sql), []) from duckdb_indexes()
     where schema_name = 'crm' and table_name = $table and sql is not null) as indexes
