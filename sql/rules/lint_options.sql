-- The HubSpot enumeration options lint checks compared literals against.
select object, property, label, value, is_multi_select from crm.property_options
where crm = 'hubspot'
order by object, property, value
