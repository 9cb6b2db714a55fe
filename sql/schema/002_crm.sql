-- The unified model the data team's rules read. Tables (not views) so every rule of a
-- cycle reads one consistent snapshot; the model step rebuilds them from raw_* each
-- cycle (sql/model/). The columns are an interface: extend, never rename.
create schema if not exists crm;

create table crm.people (
    email varchar primary key,          -- normalized: trimmed, lower case
    first_name varchar,
    last_name varchar,
    company_domain varchar,             -- normalized company domain (folded duplicates)
    owner_email varchar,
    lifecycle_stage varchar,            -- HubSpot internal value
    is_unsubscribed boolean not null default false,
    is_bounced boolean not null default false,
    hubspot_id varchar,
    salesforce_contact_id varchar,
    salesforce_lead_id varchar,
    created_at timestamp,
    updated_at timestamp
);

create table crm.companies (
    company_domain varchar primary key, -- normalized: lower case, no scheme, no www., no path
    name varchar,
    aliases varchar[] not null default [],
    hubspot_ids varchar[] not null default [],
    salesforce_account_ids varchar[] not null default [],
    lifecycle_stage varchar
);

-- every domain that names a company (its own and its aliases) -> the company's domain
create table crm.company_domains (
    domain varchar primary key,
    company_domain varchar not null
);

create table crm.opportunities (
    opportunity_id varchar not null,
    crm varchar not null,               -- hubspot | salesforce
    name varchar,
    stage varchar,                      -- internal value
    is_closed boolean not null,
    is_won boolean not null,
    amount double,
    close_date date,
    company_domain varchar,
    updated_at timestamp,
    primary key (crm, opportunity_id)
);

create table crm.opportunity_contacts (
    opportunity_id varchar not null,
    crm varchar not null,
    email varchar not null
);

create table crm.engagements (
    engagement_id varchar not null,
    crm varchar not null,
    type varchar not null,              -- email | meeting | call | note
    direction varchar,                  -- inbound | outbound
    email varchar,                      -- the person the engagement is with (normalized)
    from_email varchar,
    is_ooo boolean not null default false,
    is_bounce boolean not null default false,
    sent_by_sequence varchar,           -- sequence id when the sequencer sent it, else null
    occurred_at timestamp,
    primary key (crm, engagement_id)
);

create table crm.property_options (
    crm varchar not null,
    object varchar not null,
    property varchar not null,
    label varchar not null,
    value varchar not null,
    is_multi_select boolean not null default false
);
