-- A sample of the people a held run would unenroll, for the approver to check by eye:
-- the person, the sequence by name, the rule and the reason it gave, taken evenly across
-- the rules (the first few of each) so one large rule does not hide the others.
-- params: $run_id, $limit
with held as (
    select o.email, coalesce(q.name, o.sequence_id) as sequence,
           coalesce(o.rule, '(manual)') as rule, o.reason
    from ops.outbox as o
    left join ops.sequences as q on q.crm = o.crm and q.sequence_id = o.sequence_id
    where o.run_id = $run_id and o.kind = 'unenroll' and o.status = 'held'
),
final as (
    select email, sequence, rule, reason
    from held
    qualify row_number() over (partition by rule order by email, sequence)
        <= greatest(1, $limit // greatest(1, (select count(distinct rule) from held)))
    order by rule, email, sequence
    limit $limit
)
select * from final
