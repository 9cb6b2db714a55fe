-- Everyone the good rows of an unenroll CSV name: the emails themselves, and every
-- person at each company named by any of its domains, through crm.company_domains
-- (aliases and folded duplicates), whether found by company or by email domain.
-- inputs: d_csv_rows (from csv_rows.sql)
with
good as (
    select * from d_csv_rows where problem is null
),
companies as (
    select distinct coalesce(d.company_domain, g.company_domain) as company_domain
    from good as g
    left join crm.company_domains as d on d.domain = g.company_domain
    where g.company_domain is not null
),
domains as (
    select domain from crm.company_domains
    where company_domain in (select company_domain from companies)
    union
    select company_domain from companies
),
final as (
    select email from good where email is not null
    union
    select email from crm.people where company_domain in (select company_domain from companies)
    union
    select email from crm.people where split_part(email, '@', 2) in (select domain from domains)
    union
    select email from ops.enrollments
    where split_part(email, '@', 2) in (select domain from domains)
)
select * from final
