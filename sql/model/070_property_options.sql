-- crm.property_options: the options of every enumeration property (HubSpot) and picklist
-- (Salesforce), internal value and label, so lint can tell a label from a value.
-- HubSpot stores a multi-select (field type checkbox) as values joined by ';'.
with hubspot_options as (
    select distinct
        'hubspot' as crm,
        object_type as object,
        property,
        coalesce(label, value) as label,
        value,
        coalesce(field_type = 'checkbox', false) as is_multi_select
    from raw_hubspot.property_options
    where value is not null
),

-- the raw picklist table has no field type, so multi-select picklists are not told apart
salesforce_options as (
    select distinct
        'salesforce' as crm,
        sobject as object,
        field as property,
        coalesce(label, value) as label,
        value,
        false as is_multi_select
    from raw_salesforce.picklist_options
    where value is not null
),

final as (
    select * from hubspot_options
    union all
    select * from salesforce_options
)

select * from final
