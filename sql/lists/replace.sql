-- A list's normalized rows as table lists.<name>, in place of the last load.
-- inputs: list_rows; template: {table} lists."<name>", the name checked and quoted
create or replace table {table} as
select email, company_domain, company_name, reason from list_rows
