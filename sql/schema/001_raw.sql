-- The raw snapshots the sync writes and the model (sql/model/) reads: one table per CRM
-- object, values exactly as the API returned them (HubSpot: strings; Salesforce: typed
-- from describe). Deleted records stay as tombstones (archived / IsDeleted = true).
-- The default columns are created here so the model can always read them; the sync adds
-- a column when seqguard.yml names a custom property or the CRM grows one it pulls.
create schema if not exists raw_hubspot;
create schema if not exists raw_salesforce;
create schema if not exists ops;
-- the sync's scratch space: pages of the run in progress, wiped when a run starts
create schema if not exists staging;

create table raw_hubspot.contacts (
    id varchar primary key, created_at timestamp, updated_at timestamp,
    archived boolean, archived_at timestamp,
    email varchar, firstname varchar, lastname varchar, company varchar, website varchar,
    lifecyclestage varchar, hubspot_owner_id varchar, hs_email_optout varchar,
    hs_email_bad_address varchar, hs_additional_emails varchar, product_interest varchar,
    _synced_at timestamp
);
create table raw_hubspot.companies (
    id varchar primary key, created_at timestamp, updated_at timestamp,
    archived boolean, archived_at timestamp,
    name varchar, domain varchar, hs_additional_domains varchar, lifecyclestage varchar,
    industry varchar, hubspot_owner_id varchar,
    _synced_at timestamp
);
create table raw_hubspot.deals (
    id varchar primary key, created_at timestamp, updated_at timestamp,
    archived boolean, archived_at timestamp,
    dealname varchar, pipeline varchar, dealstage varchar, amount varchar, closedate varchar,
    hs_is_closed varchar, hs_is_closed_won varchar, hubspot_owner_id varchar,
    _synced_at timestamp
);
create table raw_hubspot.emails (
    id varchar primary key, created_at timestamp, updated_at timestamp,
    archived boolean, archived_at timestamp,
    hs_timestamp varchar, hs_email_direction varchar, hs_email_from_email varchar,
    hs_email_to_email varchar, hs_email_subject varchar, hs_email_headers varchar,
    hs_email_status varchar, hs_sequence_id varchar, hubspot_owner_id varchar,
    _synced_at timestamp
);
create table raw_hubspot.meetings (
    id varchar primary key, created_at timestamp, updated_at timestamp,
    archived boolean, archived_at timestamp,
    hs_timestamp varchar, hs_meeting_title varchar, hs_meeting_outcome varchar,
    hs_attendee_email varchar, hubspot_owner_id varchar,
    _synced_at timestamp
);
-- one row per (from_type, from_id, to_type, to_id); the sync replaces the rows of every
-- record it fetched (no primary key: rows are deleted and re-inserted in one transaction)
create table raw_hubspot.associations (
    from_type varchar not null,          -- contacts | deals | emails | meetings
    from_id varchar not null,
    to_type varchar not null,            -- companies | contacts
    to_id varchar not null,
    _synced_at timestamp
);
-- one row per enumeration option, replaced every run from the properties API
create table raw_hubspot.property_options (
    object_type varchar not null, property varchar not null, type varchar,
    field_type varchar, label varchar, value varchar, display_order integer
);
create table raw_hubspot.owners (
    id varchar primary key, email varchar, first_name varchar, last_name varchar
);

create table raw_salesforce."User" (
    Id varchar primary key, IsDeleted boolean, CreatedDate timestamp,
    LastModifiedDate timestamp, SystemModstamp timestamp,
    Username varchar, Email varchar, FirstName varchar, LastName varchar, IsActive boolean,
    _synced_at timestamp
);
create table raw_salesforce.Account (
    Id varchar primary key, IsDeleted boolean, CreatedDate timestamp,
    LastModifiedDate timestamp, SystemModstamp timestamp,
    Name varchar, Website varchar, Type varchar, Industry varchar, OwnerId varchar,
    _synced_at timestamp
);
create table raw_salesforce.Contact (
    Id varchar primary key, IsDeleted boolean, CreatedDate timestamp,
    LastModifiedDate timestamp, SystemModstamp timestamp,
    FirstName varchar, LastName varchar, Email varchar, AccountId varchar, OwnerId varchar,
    HasOptedOutOfEmail boolean, EmailBouncedReason varchar, EmailBouncedDate timestamp,
    Title varchar,
    _synced_at timestamp
);
create table raw_salesforce.Lead (
    Id varchar primary key, IsDeleted boolean, CreatedDate timestamp,
    LastModifiedDate timestamp, SystemModstamp timestamp,
    FirstName varchar, LastName varchar, Email varchar, Company varchar, Website varchar,
    Status varchar, IsConverted boolean, ConvertedContactId varchar, OwnerId varchar,
    HasOptedOutOfEmail boolean, EmailBouncedReason varchar, EmailBouncedDate timestamp,
    _synced_at timestamp
);
create table raw_salesforce.Opportunity (
    Id varchar primary key, IsDeleted boolean, CreatedDate timestamp,
    LastModifiedDate timestamp, SystemModstamp timestamp,
    Name varchar, AccountId varchar, StageName varchar, IsClosed boolean, IsWon boolean,
    Amount double, CloseDate date, OwnerId varchar,
    _synced_at timestamp
);
create table raw_salesforce.OpportunityContactRole (
    Id varchar primary key, IsDeleted boolean, CreatedDate timestamp,
    LastModifiedDate timestamp, SystemModstamp timestamp,
    OpportunityId varchar, ContactId varchar, Role varchar, IsPrimary boolean,
    _synced_at timestamp
);
create table raw_salesforce.Task (
    Id varchar primary key, IsDeleted boolean, CreatedDate timestamp,
    LastModifiedDate timestamp, SystemModstamp timestamp,
    Subject varchar, WhoId varchar, WhatId varchar, OwnerId varchar, Status varchar,
    TaskSubtype varchar, Type varchar, Description varchar, ActivityDate date,
    CompletedDateTime timestamp, ActionCadenceId varchar,
    _synced_at timestamp
);
create table raw_salesforce.Event (
    Id varchar primary key, IsDeleted boolean, CreatedDate timestamp,
    LastModifiedDate timestamp, SystemModstamp timestamp,
    Subject varchar, WhoId varchar, WhatId varchar, OwnerId varchar,
    StartDateTime timestamp, EndDateTime timestamp,
    _synced_at timestamp
);
create table raw_salesforce.ActionCadenceTracker (
    Id varchar primary key, ActionCadenceId varchar, TargetId varchar, State varchar,
    CompletionReason varchar, CurrentStepNumber double, CreatedDate timestamp,
    LastModifiedDate timestamp, SystemModstamp timestamp, IsDeleted boolean,
    _synced_at timestamp
);
create table raw_salesforce.picklist_options (
    sobject varchar not null, field varchar not null, label varchar, value varchar
);

-- one incremental cursor per (crm, object): the highest modification time merged so far,
-- written in the same transaction as the rows it covers
create table ops.sync_state (
    crm varchar not null,                -- hubspot | salesforce
    object varchar not null,             -- contacts, Contact, ...
    watermark timestamp,                 -- max hs_lastmodifieddate / SystemModstamp merged
    last_full_sync_at timestamp,
    last_sync_at timestamp,
    last_run_id varchar,
    primary key (crm, object)
);

-- records the sync could not trust: kept with the reason and the record as received
create table ops.quarantine (
    crm varchar not null,
    object varchar not null,
    record_id varchar,                   -- null when the record had no id
    reason varchar not null,
    payload json,
    run_id varchar not null,
    quarantined_at timestamp not null
);
