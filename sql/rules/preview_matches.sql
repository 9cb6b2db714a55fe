-- The people every version preview ran reaches.
create or replace temp table preview_matches as
select * from rules.people_of('preview_run_sets', 'preview_match_rows')
