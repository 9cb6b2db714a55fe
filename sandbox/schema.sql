-- The sandbox's own state: what the fake HubSpot, Salesforce and sequencer hold.
-- All times are naive UTC timestamps on the sandbox clock.

-- HubSpot: one table per object; every property is a varchar column holding the value
-- exactly as HubSpot's API returns it (strings). Creating a property adds a column.
create table hs_properties (
    object_type varchar not null,      -- contacts | companies | deals | emails | meetings
    name varchar not null,
    label varchar not null,
    type varchar not null,             -- string | number | datetime | date | enumeration | bool
    field_type varchar not null,       -- text | number | date | select | checkbox | booleancheckbox | radio
    group_name varchar not null default 'sandbox',
    options json not null default '[]', -- [{label, value, displayOrder, hidden}]
    primary key (object_type, name)
);

create table hs_contacts (
    id bigint primary key, created_at timestamp not null, updated_at timestamp not null,
    archived boolean not null default false, archived_at timestamp,
    email varchar, firstname varchar, lastname varchar, company varchar, website varchar,
    lifecyclestage varchar, hubspot_owner_id varchar, hs_email_optout varchar,
    hs_email_bad_address varchar, hs_additional_emails varchar, product_interest varchar,
    jobtitle varchar,
    -- HubSpot's calculated sequence properties, kept by the sequencer (refresh_contact_flags);
    -- every contact has the counts, the rest once it was in a sequence
    hs_sequences_is_enrolled varchar, hs_sequences_actively_enrolled_count varchar default '0',
    hs_sequences_enrolled_count varchar default '0', hs_latest_sequence_enrolled varchar,
    hs_latest_sequence_enrolled_date varchar, hs_latest_sequence_unenrolled_date varchar,
    hs_latest_sequence_finished_date varchar, hs_latest_sequence_ended_date varchar
);
create table hs_companies (
    id bigint primary key, created_at timestamp not null, updated_at timestamp not null,
    archived boolean not null default false, archived_at timestamp,
    name varchar, domain varchar, hs_additional_domains varchar, lifecyclestage varchar,
    industry varchar, hubspot_owner_id varchar
);
create table hs_deals (
    id bigint primary key, created_at timestamp not null, updated_at timestamp not null,
    archived boolean not null default false, archived_at timestamp,
    dealname varchar, pipeline varchar, dealstage varchar, amount varchar, closedate varchar,
    hs_is_closed varchar, hs_is_closed_won varchar, hubspot_owner_id varchar, dealtype varchar
);
create table hs_emails (
    id bigint primary key, created_at timestamp not null, updated_at timestamp not null,
    archived boolean not null default false, archived_at timestamp,
    hs_timestamp varchar, hs_email_direction varchar, hs_email_from_email varchar,
    hs_email_to_email varchar, hs_email_subject varchar, hs_email_headers varchar,
    hs_email_status varchar,          -- SENT | BOUNCED | ...
    hs_sequence_id varchar,           -- set on emails the sequencer sent: the sequence id
    hubspot_owner_id varchar
);
create table hs_meetings (
    id bigint primary key, created_at timestamp not null, updated_at timestamp not null,
    archived boolean not null default false, archived_at timestamp,
    hs_timestamp varchar, hs_meeting_title varchar, hs_meeting_outcome varchar,
    hs_attendee_email varchar, hubspot_owner_id varchar
);
create table hs_owners (
    id varchar primary key, email varchar not null, first_name varchar, last_name varchar,
    user_id bigint
);
create table hs_associations (
    from_type varchar not null, from_id bigint not null,
    to_type varchar not null, to_id bigint not null,
    type_id integer not null default 1
);

-- Salesforce: one table per sObject, typed columns; sf_fields is what describe() serves.
create table sf_fields (
    sobject varchar not null, name varchar not null, label varchar not null,
    type varchar not null,             -- id | string | email | boolean | double | currency | date | datetime | picklist | reference | textarea | url
    picklist json not null default '[]', -- [{label, value, active, defaultValue}]
    reference_to varchar,
    primary key (sobject, name)
);
create table sf_user (
    Id varchar primary key, IsDeleted boolean not null default false,
    CreatedDate timestamp, LastModifiedDate timestamp, SystemModstamp timestamp,
    Username varchar, Email varchar, FirstName varchar, LastName varchar, IsActive boolean
);
create table sf_account (
    Id varchar primary key, IsDeleted boolean not null default false,
    CreatedDate timestamp, LastModifiedDate timestamp, SystemModstamp timestamp,
    Name varchar, Website varchar, Type varchar, Industry varchar, OwnerId varchar
);
create table sf_contact (
    Id varchar primary key, IsDeleted boolean not null default false,
    CreatedDate timestamp, LastModifiedDate timestamp, SystemModstamp timestamp,
    FirstName varchar, LastName varchar, Email varchar, AccountId varchar, OwnerId varchar,
    HasOptedOutOfEmail boolean default false, EmailBouncedReason varchar,
    EmailBouncedDate timestamp, Title varchar
);
create table sf_lead (
    Id varchar primary key, IsDeleted boolean not null default false,
    CreatedDate timestamp, LastModifiedDate timestamp, SystemModstamp timestamp,
    FirstName varchar, LastName varchar, Email varchar, Company varchar, Website varchar,
    Status varchar, IsConverted boolean default false, ConvertedContactId varchar,
    OwnerId varchar, HasOptedOutOfEmail boolean default false, EmailBouncedReason varchar,
    EmailBouncedDate timestamp, Title varchar
);
create table sf_opportunity (
    Id varchar primary key, IsDeleted boolean not null default false,
    CreatedDate timestamp, LastModifiedDate timestamp, SystemModstamp timestamp,
    Name varchar, AccountId varchar, StageName varchar, IsClosed boolean, IsWon boolean,
    Amount double, CloseDate date, OwnerId varchar, Type varchar
);
create table sf_opportunitycontactrole (
    Id varchar primary key, IsDeleted boolean not null default false,
    CreatedDate timestamp, LastModifiedDate timestamp, SystemModstamp timestamp,
    OpportunityId varchar, ContactId varchar, Role varchar, IsPrimary boolean default false
);
create table sf_task (
    Id varchar primary key, IsDeleted boolean not null default false,
    CreatedDate timestamp, LastModifiedDate timestamp, SystemModstamp timestamp,
    Subject varchar, WhoId varchar, WhatId varchar, OwnerId varchar, Status varchar,
    -- Task | Email | ListEmail | Call | LinkedIn | Cadence (what Sales Engagement writes)
    TaskSubtype varchar,
    Type varchar, Description varchar, ActivityDate date, CompletedDateTime timestamp
);
create table sf_event (
    Id varchar primary key, IsDeleted boolean not null default false,
    CreatedDate timestamp, LastModifiedDate timestamp, SystemModstamp timestamp,
    Subject varchar, WhoId varchar, WhatId varchar, OwnerId varchar,
    StartDateTime timestamp, EndDateTime timestamp
);

-- The sequencer both CRMs front: HubSpot Sequences and Salesforce cadences
-- (ActionCadence, ActionCadenceStep and the trackers are views over these tables,
-- sandbox/salesforce_cadences.py).
create table sb_sequences (
    id varchar primary key, name varchar not null,
    steps json not null,               -- [{"after_minutes": n}, ...]
    created_at timestamp not null
);
create table sb_enrollments (
    id bigint primary key,
    -- the sequencer: hubspot | salesforce (the CRM's own) or outreach | salesloft | apollo
    crm varchar not null,
    -- HubSpot contact id, Salesforce Contact/Lead Id, or the sequencer's person (sb_people.id)
    contact_id varchar not null,
    email varchar,
    sequence_id varchar not null,
    state varchar not null,            -- active | paused | finished | unenrolled
    step integer not null default 0,   -- steps sent so far
    -- why the state last changed: seqguard's or the CRM's reason, or what the recipient did
    -- at a sequencer of its own (replied | bounced | opted_out, sandbox/activity.py)
    reason varchar,
    sender varchar,
    enrolled_by varchar,               -- HubSpot: the user id the enrollment was made for
    enrolled_at timestamp not null,
    updated_at timestamp not null,
    next_step_at timestamp             -- null once finished/unenrolled/paused
);
create table sb_sent (
    enrollment_id bigint not null, email varchar, sequence_id varchar not null,
    step integer not null, sent_at timestamp not null
);

-- The people and senders of a sequencer that is not a CRM (outreach | salesloft | apollo):
-- mirrored from the CRMs' contacts (by email) and owners/users, each with the sequencer's
-- own id, kept once given (sandbox/people.py). A person's opt-out and bounce are the
-- sequencer's own flags, from the CRM's at mirroring and from the recipient since.
create table sb_people (
    sequencer varchar not null, id bigint not null, email varchar not null,
    opted_out boolean not null default false, opted_out_at timestamp,
    bounced boolean not null default false, bounced_at timestamp,
    created_at timestamp not null, updated_at timestamp not null,
    primary key (sequencer, id), unique (sequencer, email)
);
-- what the CRMs held when each sequencer last mirrored (a mirror with nothing new is skipped)
create table sb_mirrored (sequencer varchar primary key, crm_signature varchar not null);
create table sb_senders (
    sequencer varchar not null, id bigint not null, email varchar not null,
    created_at timestamp not null,
    primary key (sequencer, id), unique (sequencer, email)
);
-- What such a sequencer records about its emails (sandbox/activity.py): every step it sent
-- (kind sent, written by tick), and what recipients did (reply | bounce | unsubscribe,
-- injected through /_sandbox/sequencer/events), each answering the send it follows
create table sb_activity (
    id bigint primary key, sequencer varchar not null,
    person_id bigint not null, email varchar not null,
    kind varchar not null,             -- sent | reply | bounce | unsubscribe
    enrollment_id bigint, sequence_id varchar, step integer,
    sent_id bigint,                    -- the send a reply/bounce/unsubscribe answers
    occurred_at timestamp not null,    -- when it happened
    recorded_at timestamp not null     -- when the sequencer learnt of it (its updatedAt)
);

-- The HubSpot unenroll workflow (DESIGN: `/_sandbox/hubspot/workflow`): its lag in minutes
-- (null: it never runs), and the runs a write of seqguard_unenroll_at queued, each due
-- `lag` after the write on the sandbox clock
create table sb_workflow (lag_minutes integer);
insert into sb_workflow values (2);
create table sb_workflow_runs (
    contact_id bigint not null, written_at timestamp not null, due_at timestamp not null
);

-- Ground truth for independent checks: every change made through an API or the
-- control endpoints (generated data is not logged).
create table sb_events (
    happened_at timestamp not null, crm varchar not null, object varchar not null,
    record_id varchar not null, action varchar not null,  -- upsert | delete | patch
    payload json
);

-- id counters, so ids stay unique across generated and API-created records
create table sb_counters (name varchar primary key, value bigint not null);
