-- Matches are diffed bucket by bucket (tasks/match_store.py): a row's hash puts it in a
-- bucket, and every version keeps a fingerprint per bucket, so a cycle compares only
-- the buckets whose rows changed, not every row a rule returned.

-- the bucket of a row's hash, hash(key, reason) with the key its email or company_domain
-- (tasks/rules.py normalized_sql); the one definition stored rows and results share
create macro rules.bucket_of(row_hash) as (row_hash % 4096)::integer;

alter table rules.match_rows add column bucket integer;
update rules.match_rows set bucket = rules.bucket_of(hash(coalesce(email, company_domain), reason));

-- per version and bucket: how many rows its latest result put there and the sum of their
-- hashes; a bucket whose fingerprint is unchanged is not compared row by row (one row
-- per version and bucket: a changed bucket's row is deleted and written again)
drop table rules.match_fingerprints;
create table rules.match_fingerprints (
    rule varchar not null,
    version varchar not null,
    is_pending boolean not null,
    bucket integer not null,
    row_count bigint not null,
    hash_sum hugeint not null
);

-- rules.people_of as in 008, reaching a company's other domains with `union all`: the
-- company itself is left out of the join instead of removed by a distinct over every
-- column (a third of the cost of counting the people company rows reach)
create or replace macro rules.people_of(run_sets, match_rows) as table
with
rows_of_runs as (
    select r.run_id, r.rule, r.version, r.is_pending, m.email, m.company_domain, m.reason
    from query_table(run_sets) as r
    join query_table(match_rows) as m
        on m.rule = r.rule and m.version = r.version and m.is_pending = r.is_pending
        and m.from_seq <= r.seq and (m.to_seq is null or r.seq < m.to_seq)
),
contact_rows as (
    select run_id, rule, version, email, null::varchar as company_domain, reason, is_pending
    from rows_of_runs
    where email is not null
),
named as (
    select r.run_id, r.rule, r.version, r.is_pending,
        coalesce(d.company_domain, r.company_domain) as company, r.reason
    from rows_of_runs as r
    left join crm.company_domains as d on d.domain = r.company_domain
    where r.company_domain is not null
),
companies as (
    select run_id, rule, version, is_pending, company, any_value(reason) as reason
    from named
    group by all
),
reach as (
    select *, company as domain from companies
    union all
    select c.*, d.domain
    from companies as c
    join crm.company_domains as d on d.company_domain = c.company and d.domain <> c.company
),
-- each domain names one company, so every person is reached once per rule version
company_rows as (
    select r.run_id, r.rule, r.version, p.email, r.company as company_domain, r.reason,
        r.is_pending
    from reach as r
    join crm.people as p on p.company_domain = r.domain
),
final as (
    select * from contact_rows
    union all
    select * from company_rows
)
select * from final;
