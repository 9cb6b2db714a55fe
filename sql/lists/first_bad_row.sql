-- inputs: list_rows (normalize.sql's output); $email: the pattern of an email address
-- the first row a list cannot be used with, and why; never the cell itself, which may be
-- anything a file held
select
    row_index,
    case
        when email is null and company_domain is null
            then 'has neither email nor company_domain; fill one or delete the row'
        when email is not null and not regexp_full_match(email, $email)
            then 'email is not an email address; fix it or delete the row'
        else 'company_domain is not a domain; write it like example.com'
    end as problem
from list_rows
where (email is null and company_domain is null)
    or (email is not null and not regexp_full_match(email, $email))
    or (company_domain is not null
        and not regexp_full_match(company_domain, '[a-z0-9-]+(\.[a-z0-9-]+)+'))
order by row_index
limit 1
