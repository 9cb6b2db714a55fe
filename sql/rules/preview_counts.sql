-- Per rule version: the people it excludes (of the audience, when $audience_only) and
-- the people only it excludes among the rules that apply now.
-- inputs: preview_matches, preview_audience; params: $rules, $applying, $audience_only
with relevant as (
    select distinct m.rule, m.is_pending, m.email
    from preview_matches as m
    where list_contains($rules::varchar[], m.rule)
        and ($audience_only = false or m.email in (select email from preview_audience))
),
current_rules as (
    select email, count(distinct rule) as rules, min(rule) as only_rule
    from relevant
    where not is_pending and list_contains($applying::varchar[], rule)
    group by email
),
final as (
    select
        r.rule,
        r.is_pending,
        count(*) as people,
        count(*) filter (where c.email is null or (c.rules = 1 and c.only_rule = r.rule))
            as only_this
    from relevant as r
    left join current_rules as c using (email)
    group by all
)
select * from final order by rule, is_pending
