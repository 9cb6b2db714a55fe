-- Every enumeration's options (HubSpot enumerations, Salesforce picklists), which lint
-- checks the literals compared with a column against.
select crm, object, property, label, value, is_multi_select from crm.property_options
order by crm, object, property, value
