-- An empty staging table for the associations of one object's fetched records.
-- template: {associations} staging table
create or replace table {associations} (
    page_no integer, from_type varchar, from_id varchar, to_type varchar, to_id varchar
)
