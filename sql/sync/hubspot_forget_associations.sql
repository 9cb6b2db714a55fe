-- The stored associations of every record this run fetched, replaced below (run inside
-- the object's merge transaction).
-- template: {staging} table; params: $from_type, $to_types
delete from raw_hubspot.associations
where from_type = $from_type and list_contains($to_types, to_type)
    and from_id in (select id from {staging})
