-- A run's decisions, the first $cap of them, for the report's table of changes, with the
-- sequence's name beside its id.
-- params: $run_id, $cap
with
names as (
    select sequence_id, any_value(name) as name from ops.sequences group by all
),
final as (
    select d.kind, d.email, coalesce(n.name, d.sequence_id) as sequence, d.sequence_id,
           d.rule, d.scope, d.reason
    from ops.decisions as d
    left join names as n using (sequence_id)
    where d.run_id = $run_id
    order by d.kind, d.rule, d.email, d.sequence_id
    limit $cap
)
select * from final
