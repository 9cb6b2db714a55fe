-- crm.company_domains: every domain that names a company (its own and each alias,
-- including the domains of folded duplicates) -> the company's domain. Rules and
-- decisions go through it so a company named by any of its domains is found.
with own_domains as (
    select company_domain as domain, company_domain
    from crm.companies
),

alias_domains as (
    select unnest(aliases) as domain, company_domain
    from crm.companies
),

final as (
    select * from own_domains
    union all
    select * from alias_domains
)

select * from final
