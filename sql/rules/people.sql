-- The people each version of the company results reaches (rules.people_of reaches a
-- person once per version).
-- inputs: company_run_sets, company_match_rows (company_results.sql)
select rule, version, is_pending, count(*)
from rules.people_of('company_run_sets', 'company_match_rows')
group by all
