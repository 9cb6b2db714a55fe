-- What a sequencer with people of its own (Outreach, Salesloft, Apollo) says, as read:
-- its person id for each email seqguard has posted a change for (the poster resolves
-- them through the adapter's `people`), and what it recorded about its emails (the
-- cycle's sync reads `activity` since the last row's updated_at). The model reads both:
-- replies and bounces become crm.engagements, unsubscribes and bounces flag crm.people.
create schema if not exists raw_sequencer;

create table raw_sequencer.people (
    crm varchar not null,               -- outreach | salesloft | apollo
    email varchar not null,             -- normalized
    contact_id varchar not null,        -- the sequencer's person id
    resolved_at timestamp not null,     -- the cycle's time it was read
    primary key (crm, email)
);

create table raw_sequencer.activity (
    crm varchar not null,
    activity_id varchar not null,       -- stable per sequencer
    email varchar,                      -- the recipient, normalized; null where not exposed
    contact_id varchar,
    kind varchar not null,              -- sent | reply | bounce | unsubscribe
    sequence_id varchar,                -- the sequence whose email it was
    occurred_at timestamp,
    updated_at timestamp,               -- the sequencer's; the next read starts here
    _synced_at timestamp not null,
    primary key (crm, activity_id)
);
