-- An unenroll CSV's rows, normalized and checked: each row names a person (email) and/or
-- a company (company_domain, any of its domains or aliases); `problem` says what is
-- wrong with a row (its line is in `line`), null for a good row, without quoting a cell
-- that is not an address or a domain (a file's content is never printed).
-- inputs: d_csv (line, email, company_domain as text)
with
rows as (
    select
        line,
        nullif(lower(trim(email)), '') as email,
        rules.normalize_domain(company_domain) as company_domain
    from d_csv
),
known_emails as (
    select email from crm.people
    union
    select email from ops.enrollments
),
known_domains as (
    select domain from crm.company_domains
    union
    select company_domain from crm.people where company_domain is not null
    union
    select split_part(email, '@', 2) from known_emails
),
checked as (
    select
        r.*,
        case
            when r.email is null and r.company_domain is null
                then 'has neither an email nor a company_domain'
            when r.email is not null
                and not regexp_full_match(r.email, '[^@\s]+@[^@\s]+\.[^@\s]+')
                then 'its email is not an email address'
            when r.company_domain is not null
                and not regexp_full_match(r.company_domain, '[a-z0-9-]+(\.[a-z0-9-]+)+')
                then 'its company_domain is not a domain'
            when r.email is not null and r.email not in (select email from known_emails)
                then 'unknown email ' || r.email || ' (not in the CRMs or any sequence)'
            when r.company_domain is not null
                and r.company_domain not in (select domain from known_domains)
                then 'unknown company domain ' || r.company_domain
                    || ' (no company or person has it)'
        end as problem
    from rows as r
),
final as (
    select line, email, company_domain, problem from checked
)
select * from final
