"""The database: the one place that opens DuckDB (connections, migrations,
transactions; store.py), the one SQL runner for seqguard's own `.sql` files (sql.py),
and how Arrow tables go in and out (arrow.py). Nothing above it opens a connection or
reads a `.sql` file itself."""
