-- The exclusion rules engine's own tables (tasks/rules.py, tasks/propagation.py).
-- Versions are observations: one row each time seqguard first sees a new content of a
-- rule file or of a sequence's ruleset; nothing is ever deleted from them, so "which
-- version unenrolled this person, and since when was it in force" stays answerable.
create schema if not exists rules;
-- uploaded CSV lists (sql/exclusions/lists/<name>.csv), reloaded before every evaluation
create schema if not exists lists;

create table rules.versions (
    rule varchar not null,
    seq integer not null,               -- observation number per rule, 1, 2, ...
    version varchar not null,           -- content hash of the file ('deleted' when removed)
    path varchar,                       -- the file, relative to the project folder
    header varchar,                     -- the parsed `-- key: value` header, as JSON text
    sql varchar,                        -- the SELECT under the header
    sql_line integer,                   -- the file line the SELECT starts on (for messages)
    level varchar,                      -- contact | company (null when the header is broken)
    exclude_from_sequences boolean,
    remove_enrolled boolean,
    enabled boolean,
    is_deleted boolean not null default false,
    problem varchar,                    -- why the file cannot run (file:line: ...), else null
    first_seen timestamp not null,
    effective_from timestamp not null,  -- first_seen + propagation_delay (or at once)
    primary key (rule, seq)
);

-- rulesets.yml, one ruleset per sequence (and the default), versioned like rules
create table rules.ruleset_versions (
    ruleset varchar not null,           -- the sequence name or id; 'default' for the default
    is_default boolean not null,
    seq integer not null,
    version varchar not null,           -- content hash of (rules, colleague_reply), or 'deleted'
    rules varchar[] not null default [],
    colleague_reply boolean not null default false,
    is_deleted boolean not null default false,
    first_seen timestamp not null,
    effective_from timestamp not null,
    primary key (is_default, ruleset, seq)
);

-- one row per evaluation (cycle); the first row marks the database's first cycle
create table rules.evaluations (
    run_id varchar primary key,
    now timestamp not null,             -- the cycle's time (cycle_time() in the rules)
    started_at timestamp not null,      -- wall clock, for the report only
    seconds double,
    rules_run integer,
    rules_failed integer,
    matches bigint
);

-- what happened to every rule, list, ruleset and play file in a run
create table rules.runs (
    run_id varchar not null,
    kind varchar not null,              -- rule | list | rulesets | play
    rule varchar not null,              -- the rule name (or the file, for other kinds)
    seq integer,
    version varchar,
    is_pending boolean not null default false,
    status varchar not null,            -- ok | error | disabled | deleted
    error varchar,                      -- one line: file:line: what is wrong; how to fix
    seconds double,
    output_rows bigint,                 -- rows the SELECT returned
    people bigint,                      -- people those rows reach (company rows expanded)
    effective_from timestamp
);

-- the people each rule names in a run; company-level rows are expanded to every person
-- at the company's domain, its aliases and folded duplicates (company_domain is set)
create table rules.matches (
    run_id varchar not null,
    rule varchar not null,
    version varchar not null,
    email varchar not null,
    company_domain varchar,
    reason varchar,
    is_pending boolean not null default false
);

-- what each in-force rule does per sequence in a run (DESIGN "Semantics"):
-- sequence null = any sequence not named in rulesets.yml or a play (the default ruleset);
-- play set = only enrollments made by that play; failed = the rule could not run, so it
-- blocks new enrollments where it applies and removes no one (fail closed)
create table rules.scopes (
    run_id varchar not null,
    rule varchar not null,
    version varchar,
    sequence varchar,
    play varchar,
    blocks_new boolean not null,
    removes_enrolled boolean not null,
    why varchar[] not null,             -- global | ruleset | default_ruleset | play
    failed boolean not null default false
);

-- what each pending version (a rule edit or a ruleset change not effective yet) will
-- change once it takes effect, against the versions in force in the same run
create table rules.pending_changes (
    run_id varchar not null,
    kind varchar not null,              -- rule | ruleset
    name varchar not null,              -- the rule, or the ruleset's sequence ('default')
    version varchar not null,
    effective_from timestamp not null,
    status varchar not null,            -- ok | error | disabled | deleted (rule versions)
    error varchar,
    newly_excluded bigint not null,     -- people it excludes that are not excluded now
    no_longer_excluded bigint not null, -- people excluded now that it lets go
    would_remove struct(sequence varchar, people bigint)[] not null default [],
    summary varchar not null            -- one line for the run report
);

-- a domain as seqguard compares it: lower case, no scheme, no path or port, no www.
create macro rules.normalize_domain(d) as nullif(rtrim(regexp_replace(regexp_replace(
    regexp_replace(regexp_replace(lower(trim(d)), '^[a-z][a-z0-9+.-]*://', ''),
    '[/?#].*$', ''), ':[0-9]+$', ''), '^www\.', ''), '.'), '');
