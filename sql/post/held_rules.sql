-- What a held run would do, per rule and sequence: the people each would unenroll (a
-- person unenrolled from two sequences counts in each), for the approver's form and the
-- CLI. Every rule behind the run's decisions counts, not only the one its outbox row
-- carries, so a rule that adds nobody new still shows.
-- params: $run_id
with held as (
    select email, sequence_id, crm from ops.outbox
    where run_id = $run_id and kind = 'unenroll' and status = 'held'
),
final as (
    select
        coalesce(d.rule, '(manual)') as rule,
        coalesce(q.name, h.sequence_id) as sequence,
        count(distinct h.email) as people
    from held as h
    join ops.decisions as d
        on d.run_id = $run_id and d.kind = 'unenroll' and d.email = h.email
        and d.sequence_id = h.sequence_id
    left join ops.sequences as q on q.crm = h.crm and q.sequence_id = h.sequence_id
    group by all
    order by people desc, rule, sequence
)
select * from final
