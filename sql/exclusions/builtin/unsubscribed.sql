-- rule: unsubscribed
-- description: The person opted out of email in a CRM.
-- level: contact
-- exclude_from_sequences: true
-- remove_enrolled: true
-- enabled: true
select email, 'unsubscribed from email' as reason
from crm.people
where is_unsubscribed
