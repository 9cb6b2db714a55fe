-- What people rejected in held runs: an unenroll of that enrollment by that rule version
-- is not asked for again while nothing about it changed; a new version of the rule,
-- another rule, or a new enrollment is decided afresh. One row per enrollment and rule
-- (a run's decisions name every rule behind each unenroll).
with
final as (
    select distinct o.crm, o.enrollment_id, o.email, d.rule, d.rule_version, a.run_id
    from ops.approvals as a
    join ops.outbox as o
        on o.run_id = a.run_id and o.kind = 'unenroll' and o.status = 'cancelled'
    join ops.decisions as d
        on d.run_id = a.run_id and d.kind = 'unenroll' and d.email = o.email
        and d.sequence_id = o.sequence_id
    where a.decision = 'rejected'
)
select * from final
