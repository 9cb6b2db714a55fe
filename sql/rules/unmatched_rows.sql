-- inputs: result_rows (slot, email, company_domain, ...): every rule result of a run,
-- normalized, registered by tasks/rules/matches.py
-- Per result (slot), the rows that reach no one: a contact row whose email no person in
-- crm.people has, a company row naming a company (by any of its domains) where no person
-- works. A rule that only returns such rows reports them instead of an empty ok.
with
contact_rows as (
    select slot, email from result_rows where email is not null
),
company_rows as (
    select r.slot, coalesce(d.company_domain, r.company_domain) as company
    from result_rows as r
    left join crm.company_domains as d on d.domain = r.company_domain
    where r.company_domain is not null
),
-- every company (or bare domain) at least one person works at, as rules.people_of
-- reaches them
staffed as (
    select distinct coalesce(d.company_domain, p.company_domain) as company
    from crm.people as p
    left join crm.company_domains as d on d.domain = p.company_domain
    where p.company_domain is not null
),
-- `not in` builds the hash table on crm.people; an anti join built it on the larger
-- result rows and took half as long again (email is crm.people's key: never null)
unmatched as (
    select slot from contact_rows where email not in (select email from crm.people)
    union all
    select slot from company_rows where company not in (select company from staffed)
),
final as (
    select slot, count(*) as row_count from unmatched group by slot
)
select * from final
