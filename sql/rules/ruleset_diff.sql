-- Who a pending ruleset version newly excludes (its added rules match them and no rule it
-- kept does) and who it lets go (only its dropped rules matched them).
-- params: $run_id, $added, $kept, $dropped, $kept_after
with matched as (
    select distinct rule, email from rules.matches where run_id = $run_id and not is_pending
),
gained as (
    select distinct email from matched where list_contains($added::varchar[], rule)
    except
    select distinct email from matched where list_contains($kept::varchar[], rule)
),
lost as (
    select distinct email from matched where list_contains($dropped::varchar[], rule)
    except
    select distinct email from matched where list_contains($kept_after::varchar[], rule)
)
select (select count(*) from gained), (select count(*) from lost)
