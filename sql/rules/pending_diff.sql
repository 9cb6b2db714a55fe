-- How many people a pending rule version newly excludes, and how many it no longer does,
-- against the version in force.
-- params: $run_id, $rule, $new_version, $old_version
with new as (
    select distinct email from rules.matches
    where run_id = $run_id and rule = $rule and version = $new_version and is_pending
),
old as (
    select distinct email from rules.matches
    where run_id = $run_id and rule = $rule and version = $old_version and not is_pending
)
select
    (select count(*) from new anti join old using (email)),
    (select count(*) from old anti join new using (email))
