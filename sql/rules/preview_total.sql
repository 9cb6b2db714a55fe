-- How many people the rules that apply exclude (of the audience, when $audience_only).
-- inputs: preview_matches, preview_audience; params: $rules, $audience_only
select count(distinct email) from preview_matches
where not is_pending and list_contains($rules::varchar[], rule)
    and ($audience_only = false or email in (select email from preview_audience))
