-- Whether the database has the rules schema's version history yet.
select count(*) > 0 from duckdb_tables()
where schema_name = 'rules' and table_name = 'versions'
