-- rule: bounced
-- description: Email to the person bounced (the CRM marked the address bad, or an email to it bounced).
-- level: contact
-- exclude_from_sequences: true
-- remove_enrolled: true
-- enabled: true
-- a bounce of a sequence's own email counts too: it says the address is dead, not that
-- the person reacted to us
with bounces as (
    select email, 'email address marked bad in the CRM' as reason
    from crm.people
    where is_bounced
    union all
    select email, 'email bounced on ' || strftime(max(occurred_at), '%Y-%m-%d') as reason
    from crm.engagements
    where is_bounce and email is not null and occurred_at <= cycle_time()
    group by email
),

final as (
    select email, min(reason) as reason
    from bounces
    group by email
)

select * from final
