-- rule: emailed_us
-- description: The person emailed us in the last 90 days, from the enrolled address (in any letter case) or from another address of theirs the CRM logged on them.
-- level: contact
-- exclude_from_sequences: true
-- remove_enrolled: true
-- enabled: true
with inbound as (
    select email, lower(trim(from_email)) as sender, occurred_at
    from crm.engagements
    where type = 'email'
        and direction = 'inbound'
        and not is_ooo
        and not is_bounce
        and sent_by_sequence is null
        and occurred_at between cycle_time() - interval 90 day and cycle_time()
),

-- from the person's own address, however it was written
from_address as (
    select p.email, i.sender, i.occurred_at
    from inbound as i
    join crm.people as p on p.email = i.sender
),

-- from an alias: the CRM logged the email on the person, but it came from another address
from_alias as (
    select p.email, i.sender, i.occurred_at
    from inbound as i
    join crm.people as p on p.email = i.email
    where i.sender is distinct from p.email
),

final as (
    select
        email,
        'emailed us from ' || arg_max(sender, occurred_at) || ' on '
            || strftime(max(occurred_at), '%Y-%m-%d %H:%M') as reason
    from (select * from from_address union all select * from from_alias)
    group by email
)

select * from final
