-- Whether the decision step's enrollment table is there to count pending changes against.
select count(*) > 0 from duckdb_tables()
where schema_name = 'ops' and table_name = 'enrollments'
