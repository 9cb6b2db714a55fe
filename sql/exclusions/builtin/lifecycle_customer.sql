-- rule: lifecycle_customer
-- description: The person, or the company they work at, has lifecycle stage customer.
-- level: contact
-- exclude_from_sequences: true
-- remove_enrolled: true
-- enabled: true
with customers as (
    select email, 'lifecycle stage customer' as reason
    from crm.people
    where lifecycle_stage = 'customer'
    union all
    select p.email, 'works at customer ' || coalesce(c.name, c.company_domain) as reason
    from crm.people as p
    join crm.companies as c on c.company_domain = p.company_domain
    where c.lifecycle_stage = 'customer'
),

final as (
    select email, min(reason) as reason
    from customers
    group by email
)

select * from final
