-- rule: colleague_replied
-- description: Someone else at the person's company replied by email in the last 90 days (on only where a ruleset sets colleague_reply: true).
-- level: contact
-- exclude_from_sequences: false  -- rulesets.yml turns it on per sequence (colleague_reply)
-- remove_enrolled: true
-- enabled: true
with replies as (
    select p.company_domain, e.email as replier, max(e.occurred_at) as replied_at
    from crm.engagements as e
    join crm.people as p on p.email = e.email
    where e.type = 'email'
        and e.direction = 'inbound'
        and not e.is_ooo
        and not e.is_bounce
        and e.sent_by_sequence is null
        and p.company_domain is not null
        and e.occurred_at between cycle_time() - interval 90 day and cycle_time()
    group by all
),

final as (
    select
        colleague.email,
        'colleague ' || arg_max(r.replier, r.replied_at) || ' replied on '
            || strftime(max(r.replied_at), '%Y-%m-%d %H:%M') as reason
    from replies as r
    join crm.people as colleague
        on colleague.company_domain = r.company_domain and colleague.email <> r.replier
    group by colleague.email
)

select * from final
