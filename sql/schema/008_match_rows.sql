-- Matches are stored as ranges of runs, not once per run: from one cycle to the next
-- most rules name nearly the same people, and rewriting every row each 15 minutes cost
-- more than running the rules. A row holds from the run that first returned it until the
-- run that no longer did; rules.matches stays the view every reader queries.

-- a row a rule version returned (normalized): contact rows name an email, company rows a
-- company_domain; valid in the runs with from_seq <= seq < to_seq (to_seq null: still)
create table rules.match_rows (
    rule varchar not null,
    version varchar not null,
    is_pending boolean not null default false,
    email varchar,
    company_domain varchar,
    reason varchar,
    from_seq bigint not null,
    to_seq bigint
);

-- a fingerprint of each version's open rows (its latest result): a result with the same
-- fingerprint is not compared row by row again
create table rules.match_fingerprints (
    rule varchar not null,
    version varchar not null,
    is_pending boolean not null,
    fingerprint varchar not null,
    primary key (rule, version, is_pending)
);

-- the rule versions each run stored (ran, or carried forward), at the run's sequence
create table rules.run_sets (
    run_id varchar not null,
    seq bigint not null,
    rule varchar not null,
    version varchar not null,
    is_pending boolean not null default false
);

-- The people of the runs in `run_sets` (a table name): contact rows as they are, company
-- rows reaching every person whose domain belongs to the company, its aliases and
-- folded duplicates (crm.company_domains maps each domain to its company). A table
-- macro, so preview and explain run it over temp tables of their own.
create macro rules.people_of(run_sets, match_rows) as table
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
    union
    select c.*, d.domain
    from companies as c
    join crm.company_domains as d on d.company_domain = c.company
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

drop table rules.matches;

-- the people each rule names in a run; company-level rows are expanded to every person
-- at the company's domain, its aliases and folded duplicates (company_domain is set)
create view rules.matches as
select * from rules.people_of('rules.run_sets', 'rules.match_rows');
