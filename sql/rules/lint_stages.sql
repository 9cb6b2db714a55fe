-- Salesforce's opportunity stages (crm.opportunities holds them beside HubSpot's).
select value from crm.property_options
where crm = 'salesforce' and lower(object) = 'opportunity' and lower(property) = 'stagename'
