-- Every picklist value described, in place of the ones stored for those sObjects.
-- inputs: picklist_rows; params: $sobjects
delete from raw_salesforce.picklist_options where list_contains($sobjects, sobject);
insert into raw_salesforce.picklist_options by name select * from picklist_rows;
