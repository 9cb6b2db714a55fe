-- rule: replied
-- description: The person replied by email in the last 90 days; out-of-office replies and bounces do not count.
-- level: contact
-- exclude_from_sequences: true
-- remove_enrolled: true
-- enabled: true
-- no buffer at the recent end: a reply must stop the sequence at once, and the
-- sequencer's own emails are outbound (and tagged), so they can never look like a reply
with replies as (
    select email, max(occurred_at) as replied_at
    from crm.engagements
    where type = 'email'
        and direction = 'inbound'
        and not is_ooo
        and not is_bounce
        and sent_by_sequence is null
        and email is not null
        and occurred_at between cycle_time() - interval 90 day and cycle_time()
    group by email
),

final as (
    select email, 'replied on ' || strftime(replied_at, '%Y-%m-%d %H:%M') as reason
    from replies
)

select * from final
