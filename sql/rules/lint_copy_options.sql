-- The real database's property options in lint's copy, for the enumeration checks.
-- inputs: source_property_options
insert into crm.property_options by name select * from source_property_options
