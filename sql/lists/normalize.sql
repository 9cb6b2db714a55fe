-- inputs: list_batch (email, company_domain, company_name, reason as text, row_index)
-- a list CSV's rows as rules read them: emails lower case, domains normalized, blanks null
select
    nullif(lower(trim(email)), '') as email,
    rules.normalize_domain(company_domain) as company_domain,
    nullif(trim(company_name), '') as company_name,
    nullif(trim(reason), '') as reason,
    row_index
from list_batch
