-- The live (not archived) records this run staged, whose associations are read.
-- template: {staging} table
select distinct id from {staging}
where nullif(trim(id), '') is not null and coalesce(archived, 'false') <> 'true'
order by id
