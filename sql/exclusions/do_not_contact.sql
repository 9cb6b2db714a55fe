-- rule: do_not_contact
-- description: Every contact at a company on the uploaded do-not-contact list (sql/exclusions/lists/do_not_contact.csv).
-- level: company
-- exclude_from_sequences: true
-- remove_enrolled: true
-- enabled: true
select company_domain, coalesce(reason, 'on the do-not-contact list') as reason
from lists.do_not_contact
where company_domain is not null
