-- The run whose rule results stand now (manual actions decide on them).
select run_id from rules.evaluations order by now desc, started_at desc limit 1
