-- Every rule that stops a requested enrollment (a released play item, a manual enroll,
-- a recovery): a matching rule whose scope blocks the request's sequence (its global
-- toggle, the sequence's ruleset, or the default ruleset for a sequence with no rows of
-- its own) or its play; the CRM's unsubscribed flag while the built-in `unsubscribed`
-- rule is on there; and any failed rule covering it (fail closed). Scopes only add: a
-- global or sequence-level rule that is on blocks whatever the play says.
-- inputs: d_requests, d_matches, d_scope
with
named as (
    select distinct sequence_id from d_scope where sequence_id is not null
),
applies as (
    select r.request_id, r.email, s.rule, s.rule_version, s.scope, s.failed, s.error
    from d_requests as r
    join d_scope as s
        on s.blocks and s.play is null
        and (
            s.sequence_id = r.sequence_id
            or (s.sequence_id is null and r.sequence_id not in (select sequence_id from named))
        )
    union all
    select r.request_id, r.email, s.rule, s.rule_version, s.scope, s.failed, s.error
    from d_requests as r
    join d_scope as s on s.blocks and s.play = r.play
),
matched as (
    select a.request_id, a.rule, coalesce(m.rule_version, a.rule_version) as rule_version,
           a.scope, m.reason
    from applies as a
    join d_matches as m on m.email = a.email and m.rule = a.rule
    where not a.failed
),
unsubscribed as (
    -- the CRM flag itself, so a stale or pending match never lets an opt-out through
    select a.request_id, a.rule, a.rule_version, a.scope, 'unsubscribed in the CRM' as reason
    from applies as a
    join crm.people as p on p.email = a.email
    where a.rule = 'unsubscribed' and not a.failed and p.is_unsubscribed
),
failed as (
    select request_id, rule, rule_version, 'failed' as scope,
           'the rule failed, so it blocks until it runs again: '
               || coalesce(error, 'see the run report') as reason
    from applies
    where failed
),
final as (
    select *
    from (
        select * from matched
        union all select * from unsubscribed
        union all select * from failed
    )
    qualify row_number() over (
        partition by request_id, rule
        order by case scope when 'global' then 0 when 'ruleset' then 1
                 when 'default_ruleset' then 2 when 'play' then 3 else 4 end, reason
    ) = 1
)
select * from final
