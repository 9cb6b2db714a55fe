-- Who leaves which sequence: an open (active or paused) enrollment whose person is
-- matched by a rule that removes in that sequence (remove_enrolled on, and
-- exclude_from_sequences on or the rule in the sequence's ruleset: d_scope says which).
-- A sequence with no scope rows of its own follows the default ruleset (null sequence).
-- Failed rules have no matches and remove no one. One row per enrollment and rule;
-- is_primary picks the rule the outbox row carries. An unenroll already on its way
-- (pending, held or sent) is not asked for again, nor one a person rejected
-- while nothing about it changed (d_rejected, decide/rejected.sql).
-- inputs: d_matches, d_scope, d_rejected; params: $with_unenrolls
with
named as (
    select distinct sequence_id from d_scope where sequence_id is not null
),
removing_scopes as (
    select * from d_scope where removes and not failed and play is null
),
open_enrollments as (
    select crm, enrollment_id, sequence_id, email, contact_id, state, step
    from ops.enrollments
    where state in ('active', 'paused')
),
removing as (
    select e.*, m.rule, m.rule_version, s.scope, m.reason
    from open_enrollments as e
    join d_matches as m on m.email = e.email
    join removing_scopes as s
        on s.rule = m.rule
        and (
            s.sequence_id = e.sequence_id
            or (s.sequence_id is null and e.sequence_id not in (select sequence_id from named))
        )
    -- one row per enrollment and rule, from its widest scope
    qualify row_number() over (
        partition by e.crm, e.enrollment_id, m.rule
        order by case s.scope when 'global' then 0 when 'ruleset' then 1 else 2 end
    ) = 1
),
-- keyed by the enrollment it targets: a person enrolled again after an unenroll was
-- sent is a new enrollment, and is removed again (rows from before the outbox kept the
-- enrollment hold the whole sequence)
in_flight as (
    select distinct crm, sequence_id, email, enrollment_id
    from ops.outbox
    where kind = 'unenroll' and status in ('pending', 'held', 'sent')
),
final as (
    select
        r.*,
        row_number() over (partition by r.crm, r.enrollment_id order by r.rule) = 1
            as is_primary,
        'rule' as source,
        'seqguard' as actor
    from removing as r
    anti join in_flight as f
        on f.crm = r.crm and f.sequence_id = r.sequence_id and f.email = r.email
        and (f.enrollment_id is null or f.enrollment_id = r.enrollment_id)
    anti join d_rejected as x
        on x.crm = r.crm and x.enrollment_id = r.enrollment_id and x.rule = r.rule
        and x.rule_version is not distinct from r.rule_version
)
select * from final
where $with_unenrolls  -- false: the same columns, no row (manual actions)
