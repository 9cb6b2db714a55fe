-- crm.opportunity_contacts: the people on each opportunity (HubSpot deal-contact
-- associations, Salesforce OpportunityContactRoles), by normalized email.
with hubspot_deal_contacts as (
    select distinct
        a.from_id as opportunity_id,
        'hubspot' as crm,
        crm.normalize_email(c.email) as email
    from raw_hubspot.associations as a
    join raw_hubspot.contacts as c on c.id = a.to_id
    where a.from_type = 'deals'
        and a.to_type = 'contacts'
        and not coalesce(c.archived, false)
        and crm.has_email(c.email)
),

salesforce_contact_roles as (
    select distinct
        r.OpportunityId as opportunity_id,
        'salesforce' as crm,
        crm.normalize_email(c.Email) as email
    from raw_salesforce.OpportunityContactRole as r
    join raw_salesforce.Contact as c on c.Id = r.ContactId
    where not coalesce(r.IsDeleted, false)
        and not coalesce(c.IsDeleted, false)
        and crm.has_email(c.Email)
),

final as (
    select c.*
    from (
        select * from hubspot_deal_contacts
        union all
        select * from salesforce_contact_roles
    ) as c
    -- only opportunities the model has (not deleted)
    semi join crm.opportunities as o
        on o.crm = c.crm and o.opportunity_id = c.opportunity_id
)

select * from final
