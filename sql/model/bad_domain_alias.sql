-- The first line of the project's domain_aliases.csv whose domain or alias is not a
-- company domain (empty, malformed or a free-mail provider).
-- inputs: model_domain_aliases (line, domain, alias)
select line, value
from (
    select line, domain as value from model_domain_aliases
    union all
    select line, alias from model_domain_aliases
)
where crm.normalize_domain(value) is null
    or crm.is_free_mail_domain(crm.normalize_domain(value))
order by line
limit 1
