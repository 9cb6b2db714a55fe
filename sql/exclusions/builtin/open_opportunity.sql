-- rule: open_opportunity
-- description: Every contact at a company with an open deal in any CRM.
-- level: company                -- contact rows name `email`; company rows name `company_domain`
-- exclude_from_sequences: true  -- on for every sequence; false = only where a ruleset turns it on
-- remove_enrolled: true         -- also unenroll people already in a sequence; false = only block new ones
-- enabled: true
select company_domain, 'open deal: ' || coalesce(name, opportunity_id) as reason
from crm.opportunities
where not is_closed and company_domain is not null
