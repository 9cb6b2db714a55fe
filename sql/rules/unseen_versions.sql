-- Versions with open rows (exactly those with fingerprints) that no kept run stored: a
-- replaced version, a rule failing since, or what a crashed attempt of a run left.
create or replace temp table unseen_versions as
select distinct rule, version, is_pending from rules.match_fingerprints
except
select rule, version, is_pending from rules.run_sets
