-- crm.companies: one row per company, keyed by its normalized domain.
-- Records of both CRMs that share a normalized domain are one company; so are records an
-- alias links (HubSpot's hs_additional_domains, the project's sql/domain_aliases.csv,
-- loaded as model_domain_aliases). Domains are the nodes of a graph whose edges say "this
-- domain is an alias of that one"; each connected component is one company. Free-mail
-- domains never name a company: one stray gmail.com alias would fold strangers together.
with recursive hubspot_companies as (
    select
        'hubspot' as crm,
        id as record_id,
        name,
        lifecyclestage as lifecycle_stage,
        created_at,
        crm.normalize_domain(domain) as listed_domain,
        list_filter(
            list_transform(
                string_split_regex(coalesce(hs_additional_domains, ''), '[;,\s]+'),
                lambda d: crm.normalize_domain(d)
            ),
            lambda d: d is not null and not crm.is_free_mail_domain(d)
        ) as extra_domains,
        -- the configured columns (tasks/model.py: custom:<name>), as 030_people.sql
        columns('^custom:')
    from model_hubspot_companies
    where not coalesce(archived, false)
),

-- an Account nobody gave a website goes by its own Contacts' most common email domain
-- (mailbox providers never count); the others are not folded in, as one stray contact
-- would join two companies
account_contact_domains as (
    select AccountId as account_id, crm.normalize_domain(Email) as domain, count(*) as people
    from raw_salesforce.Contact
    where not coalesce(IsDeleted, false) and AccountId is not null
    group by all
    having domain is not null and not crm.is_free_mail_domain(domain)
),

account_domains as (
    select account_id, list(domain order by people desc, domain) as domains
    from account_contact_domains
    group by account_id
),

salesforce_accounts as (
    select
        'salesforce' as crm,
        a.Id as record_id,
        a.Name as name,
        null::varchar as lifecycle_stage,
        a.CreatedDate as created_at,
        coalesce(crm.normalize_domain(a.Website), d.domains[1]) as listed_domain,
        []::varchar[] as extra_domains,
        columns('^custom:')
    from model_salesforce_account as a
    left join account_domains as d on d.account_id = a.Id
    where not coalesce(a.IsDeleted, false)
),

-- a record without a usable domain of its own goes by its first extra domain
records as (
    select
        *,
        coalesce(
            case when not crm.is_free_mail_domain(listed_domain) then listed_domain end,
            extra_domains[1]
        ) as primary_domain
    from (
        select * from hubspot_companies
        union all by name
        select * from salesforce_accounts
    )
),

csv_aliases as (
    select
        crm.normalize_domain(domain) as domain,
        crm.normalize_domain(alias) as alias
    from model_domain_aliases
),

links as (
    select primary_domain as domain, unnest(extra_domains) as alias
    from records
    where primary_domain is not null
    union all
    select domain, alias
    from csv_aliases
    where domain is not null and alias is not null
),

edges as (
    select domain as a, alias as b from links where domain <> alias
    union
    select alias as a, domain as b from links where domain <> alias
),

-- every domain reaches every domain of its component (components are small: a company
-- has a handful of domains, so the closure stays small)
reach (domain, reached) as (
    select distinct a, a from edges
    union
    select e.b, r.reached
    from reach as r
    join edges as e on e.a = r.domain
),

components as (
    select domain, min(reached) as component
    from reach
    group by domain
),

domain_records as (
    select primary_domain as domain, min(created_at) as first_created
    from records
    where primary_domain is not null
    group by primary_domain
),

aliased as (
    select distinct alias as domain from links where domain <> alias
),

nodes as (
    select domain from domain_records
    union
    select domain from links
    union
    select alias from links
),

-- the domain a company goes by: one nobody lists as an alias, held by a record, the
-- oldest record's, then the first alphabetically (stable from cycle to cycle)
ranked as (
    select
        n.domain,
        coalesce(c.component, n.domain) as component,
        row_number() over (
            partition by coalesce(c.component, n.domain)
            order by
                a.domain is not null,
                r.domain is null,
                r.first_created nulls last,
                n.domain
        ) as choice
    from nodes as n
    left join components as c on c.domain = n.domain
    left join aliased as a on a.domain = n.domain
    left join domain_records as r on r.domain = n.domain
),

company_of as (
    select r.domain, c.domain as company_domain
    from ranked as r
    join ranked as c on c.component = r.component and c.choice = 1
),

folded as (
    select
        co.company_domain,
        -- the name of the record that holds the company's own domain, HubSpot's first
        arg_min(
            r.name,
            {
                other_domain: r.primary_domain <> co.company_domain,
                not_hubspot: r.crm <> 'hubspot',
                created_at: r.created_at,
                record_id: r.record_id
            }
        ) filter (where nullif(trim(r.name), '') is not null) as name,
        -- folded records say the most advanced stage any of them reached
        arg_max(
            r.lifecycle_stage,
            {rank: crm.lifecycle_rank(r.lifecycle_stage), record_id: r.record_id}
        ) filter (where nullif(trim(r.lifecycle_stage), '') is not null) as lifecycle_stage,
        -- configured columns: from the record the name comes from, else the next that has one
        arg_min(
            columns('^custom:'),
            {
                other_domain: r.primary_domain <> co.company_domain,
                not_hubspot: r.crm <> 'hubspot',
                created_at: r.created_at,
                record_id: r.record_id
            }
        ),
        list(r.record_id order by r.record_id) filter (where r.crm = 'hubspot') as hubspot_ids,
        list(r.record_id order by r.record_id)
            filter (where r.crm = 'salesforce') as salesforce_account_ids
    from records as r
    join company_of as co on co.domain = r.primary_domain
    group by co.company_domain
),

aliases as (
    select
        company_domain,
        list(domain order by domain) filter (where domain <> company_domain) as aliases
    from company_of
    group by company_domain
),

final as (
    select
        a.company_domain,
        f.name,
        coalesce(a.aliases, []) as aliases,
        coalesce(f.hubspot_ids, []) as hubspot_ids,
        coalesce(f.salesforce_account_ids, []) as salesforce_account_ids,
        f.lifecycle_stage,
        columns('^custom:')
    from aliases as a
    left join folded as f on f.company_domain = a.company_domain
)

select * from final
