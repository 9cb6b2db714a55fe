-- A configured text column on a table that lacks it: a crm.* table gaining a configured
-- column (tasks/model.py), or lint's dry-run database gaining what a cycle would add
-- (tasks/rules/lint_db.py).
-- template: {table} (schema and table, each quoted), {column} (quoted)
alter table {table} add column if not exists {column} varchar
