-- The figures the circuit breaker judges a run by: the people its unenrolls concern, the
-- open enrollments as last read, and the rules behind the most people.
-- params: $run_id, $top
with unenrolls as (
    select lower(email) as email, coalesce(rule, '(manual)') as rule
    from ops.outbox
    where run_id = $run_id and kind = 'unenroll' and status in ('pending', 'held')
)
select
    (select count(distinct email) from unenrolls),
    (select count(*) from ops.enrollments where state in ('active', 'paused')),
    (select coalesce(list({'rule': rule, 'people': people} order by people desc, rule), [])
     from (select rule, count(distinct email) as people from unenrolls
           group by all order by people desc, rule limit $top))
