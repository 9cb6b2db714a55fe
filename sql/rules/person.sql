-- One person of crm.people and the company they belong to (`seqguard explain`).
-- params: $email
select p.*, coalesce(d.company_domain, p.company_domain) as company
from crm.people as p
left join crm.company_domains as d on d.domain = p.company_domain
where p.email = $email
