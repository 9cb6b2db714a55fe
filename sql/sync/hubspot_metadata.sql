-- Every enumeration option of the objects synced, and every owner, in place of the ones
-- stored.
-- inputs: option_rows, owner_rows; params: $objects
delete from raw_hubspot.property_options where list_contains($objects, object_type);
insert into raw_hubspot.property_options by name select * from option_rows;
delete from raw_hubspot.owners;
insert into raw_hubspot.owners by name select * from owner_rows;
