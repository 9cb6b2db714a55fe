-- rule: recent_manual_email
-- description: A rep emailed the person by hand (not a sequence) 15 to 90 days ago; on only where a ruleset or play turns it on.
-- level: contact
-- exclude_from_sequences: false
-- remove_enrolled: false        -- blocks new enrollments only
-- enabled: true
-- the 15-day buffer leaves out a sequence's own manual-email steps, which reps send by
-- hand and the CRM does not tag with the sequence
with manual_emails as (
    select email, max(occurred_at) as emailed_at
    from crm.engagements
    where type = 'email'
        and direction = 'outbound'
        and sent_by_sequence is null
        and not is_bounce
        and email is not null
        and occurred_at between cycle_time() - interval 90 day and cycle_time() - interval 15 day
    group by email
),

final as (
    select email, 'emailed by hand on ' || strftime(emailed_at, '%Y-%m-%d') as reason
    from manual_emails
)

select * from final
