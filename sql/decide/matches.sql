-- The people each in-force rule matches in a run (the rules step has already expanded
-- company-level rows to every person at the company, its aliases and duplicates).
-- Pending versions are shown in the report, never acted on.
-- params: $run_id
with
run_matches as (
    select rule, version as rule_version, email, reason
    from rules.matches
    where run_id = $run_id and not is_pending
),
final as (
    select rule, rule_version, email, min(reason) as reason
    from run_matches
    group by all
)
select * from final
