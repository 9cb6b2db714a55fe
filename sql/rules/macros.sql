-- The helpers rules call, stored in the database so a rule runs unchanged in a plain
-- DuckDB session (`duckdb data/seqguard.duckdb`, or the copy a cycle publishes). The cycle,
-- explain and preview shadow cycle_time() with a temp macro holding the run's time
-- (tasks/rules/engine.py); created (or replaced) by every migration run and model build.

-- the cycle's time: here, the time of the last cycle that committed its decisions (not a
-- dry run), else the last cycle of any kind, else the wall clock (naive UTC)
create or replace macro main.cycle_time() as coalesce(
    (select max(now) from ops.runs
     where not dry_run and status in ('finished', 'awaiting_approval')),
    (select max(now) from ops.runs),
    (now() at time zone 'UTC')::timestamp
);

-- has_option(value, option): whether a multi-select property's value (options joined by
-- ';', as HubSpot writes them) holds the option
create or replace macro main.has_option(value, option) as list_contains(
    list_transform(string_split(coalesce(value, ''), ';'), lambda x: trim(x)), option);
