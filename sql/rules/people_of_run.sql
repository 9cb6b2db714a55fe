-- The people each version a run stored (or carried forward) reaches.
-- params: $run_id
select rule, version, is_pending, count(*)
from rules.people_of('rules.run_sets', 'rules.match_rows')
where run_id = $run_id
group by all
