-- Empty temp stores of the cycle's shape for preview's results, which keeps no
-- fingerprints, and the audience preview counts within.
create or replace temp table preview_run_sets as select * from rules.run_sets limit 0;
create or replace temp table preview_match_rows as select * from rules.match_rows limit 0;
create or replace temp table preview_audience (email varchar);
