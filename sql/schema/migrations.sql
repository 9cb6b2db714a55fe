-- The table that records which numbered migrations (NNN_*.sql beside this file) a
-- database has had; created before any of them runs (tasks/db/store.py `migrate`).
create schema if not exists ops;
create table if not exists ops.migrations (name varchar primary key, applied_at timestamp);
