-- rule: meeting_booked
-- description: The person has a meeting booked with us, held in the last 90 days or still to come.
-- level: contact
-- exclude_from_sequences: true
-- remove_enrolled: true
-- enabled: true
with meetings as (
    select email, max(occurred_at) as meeting_at
    from crm.engagements
    where type = 'meeting'
        and email is not null
        and occurred_at >= cycle_time() - interval 90 day
    group by email
),

final as (
    select email, 'meeting on ' || strftime(meeting_at, '%Y-%m-%d %H:%M') as reason
    from meetings
)

select * from final
