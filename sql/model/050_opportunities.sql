-- crm.opportunities: HubSpot deals and Salesforce Opportunities, one row each (a deal
-- open in one CRM and closed in the other for the same company is two rows, and the
-- open one is enough for "the company has an open opportunity"). The company is the one
-- the deal is associated with, else the company of its contacts.
with company_records as (
    select 'hubspot' as crm, unnest(hubspot_ids) as record_id, company_domain
    from crm.companies
    union all
    select 'salesforce' as crm, unnest(salesforce_account_ids) as record_id, company_domain
    from crm.companies
),

-- HubSpot: the associated company with the lowest id
deal_companies as (
    select a.from_id as deal_id, arg_min(r.company_domain, a.to_id) as company_domain
    from raw_hubspot.associations as a
    join company_records as r on r.crm = 'hubspot' and r.record_id = a.to_id
    where a.from_type = 'deals' and a.to_type = 'companies'
    group by a.from_id
),

-- a deal without a company: the company of its contacts (the first by domain). Staged
-- as materialized steps so the few such deals are found before any contact is read
-- (left to itself, DuckDB joins every contact to every person first)
unplaced_deal_contacts as materialized (
    select a.from_id as deal_id, a.to_id as contact_id
    from raw_hubspot.associations as a
    where a.from_type = 'deals'
        and a.to_type = 'contacts'
        and a.from_id not in (select deal_id from deal_companies)
),

unplaced_deal_emails as materialized (
    select u.deal_id, crm.normalize_email(c.email) as email
    from unplaced_deal_contacts as u
    join raw_hubspot.contacts as c on c.id = u.contact_id
    where not coalesce(c.archived, false) and crm.has_email(c.email)
),

deal_contact_companies as (
    select e.deal_id, min(p.company_domain) as company_domain
    from unplaced_deal_emails as e
    join crm.people as p on p.email = e.email
    where p.company_domain is not null
    group by e.deal_id
),

hubspot_deals as (
    select
        d.id as opportunity_id,
        'hubspot' as crm,
        d.dealname as name,
        d.dealstage as stage,
        -- hs_is_closed says it for any pipeline; without it, the default pipeline's
        -- closed stages
        case
            when lower(trim(d.hs_is_closed)) in ('true', 'false') then crm.is_true(d.hs_is_closed)
            else coalesce(d.dealstage in ('closedwon', 'closedlost'), false)
        end as is_closed,
        case
            when lower(trim(d.hs_is_closed_won)) in ('true', 'false')
                then crm.is_true(d.hs_is_closed_won)
            else coalesce(d.dealstage = 'closedwon', false)
        end as is_won,
        try_cast(d.amount as double) as amount,
        crm.parse_time(d.closedate)::date as close_date,
        coalesce(dc.company_domain, cc.company_domain) as company_domain,
        d.updated_at,
        -- the configured columns (tasks/model.py: custom:<name>), in one order in both CRMs
        columns('^custom:')
    from model_hubspot_deals as d
    left join deal_companies as dc on dc.deal_id = d.id
    left join deal_contact_companies as cc on cc.deal_id = d.id
    where not coalesce(d.archived, false)
),

-- an Opportunity whose Account names no company: the company of its contacts
unplaced_opportunity_emails as materialized (
    select r.OpportunityId, crm.normalize_email(c.Email) as email
    from raw_salesforce.OpportunityContactRole as r
    join raw_salesforce.Contact as c on c.Id = r.ContactId
    where r.OpportunityId not in (
            select o.Id
            from raw_salesforce.Opportunity as o
            join company_records as a on a.crm = 'salesforce' and a.record_id = o.AccountId
        )
        and not coalesce(r.IsDeleted, false)
        and not coalesce(c.IsDeleted, false)
        and crm.has_email(c.Email)
),

opportunity_contact_companies as (
    select e.OpportunityId, min(p.company_domain) as company_domain
    from unplaced_opportunity_emails as e
    join crm.people as p on p.email = e.email
    where p.company_domain is not null
    group by e.OpportunityId
),

salesforce_opportunities as (
    select
        o.Id as opportunity_id,
        'salesforce' as crm,
        o.Name as name,
        o.StageName as stage,
        coalesce(o.IsClosed, o.StageName in ('Closed Won', 'Closed Lost'), false) as is_closed,
        coalesce(o.IsWon, o.StageName = 'Closed Won', false) as is_won,
        o.Amount as amount,
        o.CloseDate as close_date,
        coalesce(r.company_domain, cc.company_domain) as company_domain,
        o.LastModifiedDate as updated_at,
        columns('^custom:')
    from model_salesforce_opportunity as o
    left join company_records as r on r.crm = 'salesforce' and r.record_id = o.AccountId
    left join opportunity_contact_companies as cc on cc.OpportunityId = o.Id
    where not coalesce(o.IsDeleted, false)
),

final as (
    select * from hubspot_deals
    union all
    select * from salesforce_opportunities
)

select * from final
