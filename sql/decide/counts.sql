-- The counts of one decision, for the run summary and the report: unenrolls (one per
-- enrollment), enrolls, play items skipped, other requests blocked, refused ones, and
-- play items held (only a failed rule stops them: they stay queued).
-- inputs: d_unenroll, d_enroll, d_exclusions
with held as (
    select request_id from d_enroll e
    where outcome = 'excluded' and source = 'play' and not exists (
        select 1 from d_exclusions x
        where x.request_id = e.request_id and x.scope <> 'failed')
)
select
    (select count(distinct (crm, enrollment_id)) from d_unenroll),
    (select count(*) from d_enroll where outcome = 'enroll'),
    (select count(*) from d_enroll where outcome = 'excluded' and source = 'play'
        and request_id not in (select request_id from held)),
    (select count(*) from d_enroll where outcome = 'excluded' and source <> 'play'),
    (select count(*) from d_enroll where outcome = 'refused'),
    (select count(*) from held)
