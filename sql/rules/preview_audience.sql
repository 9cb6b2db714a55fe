-- A play's audience as preview counts it: each email once, normalized.
-- inputs: audience_rows (email)
create or replace temp table preview_audience as
select distinct lower(trim(email)) as email from audience_rows
where email is not null
