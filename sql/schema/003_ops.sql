-- seqguard's own records: runs, what the sequencer holds, what was decided and posted.
-- Nothing here is ever deleted: history is kept.
create schema if not exists ops;

create table ops.runs (
    run_id varchar primary key,
    started_at timestamp not null,      -- wall clock
    now timestamp not null,             -- the cycle's time (`--now`)
    dry_run boolean not null default false,
    status varchar not null,            -- running | finished | failed | awaiting_approval | rejected
    finished_at timestamp,
    summary json
);

-- the sequences the sequencer has, by id and name
create table ops.sequences (
    crm varchar not null,               -- hubspot | salesforce (which sequencer)
    sequence_id varchar not null,
    name varchar not null,
    seen_at timestamp not null,
    primary key (crm, sequence_id)
);

-- the sequencer's enrollments as last read (one row per enrollment)
create table ops.enrollments (
    crm varchar not null,
    enrollment_id varchar not null,
    sequence_id varchar not null,
    email varchar not null,             -- normalized
    contact_id varchar,
    state varchar not null,             -- active | paused | finished | unenrolled
    step integer,                       -- steps completed
    enrolled_at timestamp,
    updated_at timestamp,
    seen_at timestamp not null,
    primary key (crm, enrollment_id)
);

-- append-only history of every enrollment change and who made it
create sequence ops.enrollment_event_ids;
create table ops.enrollment_events (
    event_id bigint primary key default nextval('ops.enrollment_event_ids'),
    happened_at timestamp not null,
    run_id varchar,
    crm varchar not null,
    enrollment_id varchar,
    sequence_id varchar not null,
    email varchar not null,
    from_state varchar,
    to_state varchar not null,
    step integer,
    actor varchar not null,             -- seqguard | user:<name> | sequencer
    rule varchar,
    rule_version varchar,
    reason varchar
);

-- what each run decided, as sets: unenroll | block | enroll | skip
create table ops.decisions (
    run_id varchar not null,
    kind varchar not null,
    email varchar not null,
    sequence_id varchar not null,
    rule varchar,
    rule_version varchar,
    scope varchar,                      -- global | ruleset | play | manual
    source varchar not null,            -- rule | play | manual | recover
    reason varchar,
    decided_at timestamp not null
);

-- the play queue: people a play wants in a sequence, released at release_at
create table ops.play_queue (
    play varchar not null,
    email varchar not null,
    sequence_id varchar not null,
    event_at timestamp,
    queued_at timestamp not null,
    release_at timestamp not null,
    status varchar not null,            -- queued | enrolled | skipped | refused
    rule varchar,                       -- the rule that skipped it
    decided_run varchar,
    primary key (play, email, sequence_id, release_at)
);

-- changes to post, written in the same transaction as the decision that made them
create table ops.outbox (
    change_id varchar primary key,      -- travels with the request where the API allows
    run_id varchar,
    created_at timestamp not null,
    kind varchar not null,              -- enroll | unenroll | pause | resume
    crm varchar not null,
    sequence_id varchar not null,
    email varchar not null,
    contact_id varchar,
    sender varchar,
    rule varchar,
    rule_version varchar,
    reason varchar,
    actor varchar not null,
    status varchar not null,            -- pending | sent | confirmed | rejected | failed
    attempts integer not null default 0,
    sent_at timestamp,
    confirmed_at timestamp,
    response json,
    error varchar
);
