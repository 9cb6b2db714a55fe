-- Whether a version has a stored result to carry forward (a run narrowed by --rules).
-- params: $rule, $version, $is_pending
select count(*) > 0 from rules.run_sets
where rule = $rule and version = $version and is_pending = $is_pending
