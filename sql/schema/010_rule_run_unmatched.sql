-- Per rule run, the rows of its result that reach no one (tasks/match_store.py
-- unmatched_rows): no key, a key that is no email or domain, or one no person or staffed
-- company in crm.* has. A rule naming only such rows used to report a silent `ok`.
alter table rules.runs add column unmatched_rows bigint;
