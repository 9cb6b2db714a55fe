-- crm.engagements: emails, meetings and calls of both CRMs, one row per activity.
-- `email` is the person the activity is with: for an email the other party's address
-- (the sender of an inbound one, the first recipient of an outbound one), moved to the
-- person's own address when it is one of their HubSpot additional emails, or to the
-- contact the CRM logged it on when the address is nobody's (so this runs after
-- crm.people, which says whose an address is). `from_email` keeps the sender as
-- written, so rules can tell mail from an alias. Sequencer-sent emails carry their
-- sequence (HubSpot hs_sequence_id; Salesforce: a Task of TaskSubtype 'Cadence', which
-- only Sales Engagement writes, of the cadence the person's tracker of the time is in, or
-- 'unknown' when no tracker was read; a sequencer of its own: its activity's sequence):
-- own activity is not a signal. HubSpot ids are prefixed by object ('email:1',
-- 'meeting:1'): emails and meetings number their ids apart; a sequencer's by its name.
with own_addresses as (
    select email from crm.people
),

-- other addresses of a HubSpot contact (';'-separated), unless they are someone's own
alias_owners as (
    select alias, min(email) as email
    from (
        select
            crm.normalize_email(
                unnest(string_split_regex(hs_additional_emails, '[;,\s]+'))
            ) as alias,
            crm.normalize_email(email) as email
        from raw_hubspot.contacts
        where hs_additional_emails is not null and not coalesce(archived, false)
    )
    where alias is not null and email is not null
        and alias not in (select email from own_addresses)
    group by alias
),

hubspot_emails as (
    select
        id,
        case upper(trim(hs_email_direction))
            when 'INCOMING_EMAIL' then 'inbound'
            when 'EMAIL' then 'outbound'
            when 'FORWARDED_EMAIL' then 'outbound'
        end as direction,
        crm.first_email(hs_email_from_email) as from_email,
        crm.first_email(hs_email_to_email) as to_email,
        -- out of office: Auto-Submitted: auto-replied or an X-Autoreply/X-Autorespond
        -- header (a real reply may say Auto-Submitted: no), or the subject says so
        coalesce(
            lower(hs_email_headers) like '%auto-replied%'
            or regexp_matches(lower(hs_email_headers), '"?x-auto-?(reply|respond)')
            or regexp_matches(
                hs_email_subject, '(?i)(automatic reply|out[ -]of[ -](the )?office)'
            ),
            false
        ) as is_ooo,
        coalesce(hs_email_status = 'BOUNCED', false) as is_bounce,
        nullif(trim(hs_sequence_id), '') as sent_by_sequence,
        coalesce(crm.parse_time(hs_timestamp), created_at) as occurred_at
    from raw_hubspot.emails
    where not coalesce(archived, false)
),

hubspot_meetings as (
    select
        id,
        crm.first_email(hs_attendee_email) as attendee,
        coalesce(crm.parse_time(hs_timestamp), created_at) as occurred_at
    from raw_hubspot.meetings
    where not coalesce(archived, false)
),

-- every HubSpot activity with the address it names: the other party of an email (the
-- sender of an inbound one, the first recipient of an outbound one), a meeting's attendee
hubspot_parties as (
    select
        'emails' as object,
        id,
        case when direction = 'inbound' then from_email else to_email end as address
    from hubspot_emails
    union all
    select 'meetings' as object, id, attendee as address
    from hubspot_meetings
),

-- whose address it is: the person's own, an alias of theirs, or (for an address nobody
-- has) the contact HubSpot logged the activity on, the lowest id when several
resolved as (
    select
        p.object,
        p.id,
        coalesce(o.email, ao.email) as email,
        p.address
    from hubspot_parties as p
    left join own_addresses as o on o.email = p.address
    left join alias_owners as ao on ao.alias = p.address
),

logged_on as (
    select
        r.object,
        r.id,
        arg_min(crm.normalize_email(c.email), c.id) as email
    from resolved as r
    join raw_hubspot.associations as a
        on a.from_type = r.object and a.from_id = r.id and a.to_type = 'contacts'
    join raw_hubspot.contacts as c on c.id = a.to_id
    where r.email is null
        and not coalesce(c.archived, false)
        and crm.has_email(c.email)
    group by r.object, r.id
),

hubspot_people as (
    select r.object, r.id, coalesce(r.email, l.email, r.address) as email
    from resolved as r
    left join logged_on as l on l.object = r.object and l.id = r.id
),

hubspot_email_rows as (
    select
        'email:' || e.id as engagement_id,
        'hubspot' as crm,
        'email' as type,
        e.direction,
        p.email,
        e.from_email,
        e.is_ooo,
        e.is_bounce,
        e.sent_by_sequence,
        e.occurred_at
    from hubspot_emails as e
    join hubspot_people as p on p.object = 'emails' and p.id = e.id
),

hubspot_meeting_rows as (
    select
        'meeting:' || m.id as engagement_id,
        'hubspot' as crm,
        'meeting' as type,
        null::varchar as direction,
        p.email,
        null::varchar as from_email,
        false as is_ooo,
        false as is_bounce,
        null::varchar as sent_by_sequence,
        m.occurred_at
    from hubspot_meetings as m
    join hubspot_people as p on p.object = 'meetings' and p.id = m.id
),

-- Salesforce activities name their person by WhoId (a Contact or Lead); a deleted
-- record still says whose activity it was
who as (
    select Id, Email from raw_salesforce.Contact
    union all
    select Id, Email from raw_salesforce.Lead
),

owners as (
    select Id, crm.normalize_email(Email) as email from raw_salesforce."User"
),

-- a Task has no cadence field (Task in the Object Reference); a target is in one cadence
-- at a time, so the tracker created last before the task is the cadence that wrote it
cadence_trackers as (
    select TargetId, CreatedDate, ActionCadenceId
    from raw_salesforce.ActionCadenceTracker
    where not coalesce(IsDeleted, false) and CreatedDate is not null
),

salesforce_tasks as (
    select
        t.*,
        -- logged emails read 'Email: <subject>'; what the person sent is marked by an
        -- arrow or a reply prefix ('Email: Re: ...'), anything else is ours (a rep's own
        -- reply logged the same way reads as theirs: it errs toward excluding)
        regexp_replace(trim(coalesce(t.Subject, '')), '(?i)^(→|->)?\s*(email:\s*)?', '')
            as bare_subject,
        case
            when t.TaskSubtype in ('Email', 'ListEmail') then 'email'
            when t.TaskSubtype = 'Call' then 'call'
            -- orgs that predate TaskSubtype say it in Type
            when t.Type = 'Email' then 'email'
            when t.Type = 'Call' then 'call'
        end as activity_type,
        coalesce(t.CompletedDateTime, t.ActivityDate::timestamp, t.CreatedDate) as occurred_at
    from raw_salesforce.Task as t
    where not coalesce(t.IsDeleted, false)
        -- an open task is a to-do, not something that happened
        and (t.CompletedDateTime is not null or lower(t.Status) = 'completed')
),

salesforce_task_rows as (
    select
        t.Id as engagement_id,
        'salesforce' as crm,
        t.activity_type as type,
        case
            when t.activity_type <> 'email' then null
            when regexp_matches(trim(coalesce(t.Subject, '')), '^(←|<-)')
                or regexp_matches(
                    t.bare_subject, '(?i)^(re|aw|sv|antw|automatic reply|out of office)\s*:'
                )
                then 'inbound'
            else 'outbound'
        end as direction,
        crm.normalize_email(w.Email) as email,
        null::varchar as from_email,
        coalesce(
            regexp_matches(t.Subject, '(?i)(automatic reply|out[ -]of[ -](the )?office)'), false
        ) as is_ooo,
        false as is_bounce,
        case
            when t.TaskSubtype = 'Cadence' then coalesce(c.ActionCadenceId, 'unknown')
        end as sent_by_sequence,
        t.occurred_at,
        o.email as owner_email
    from salesforce_tasks as t
    asof left join cadence_trackers as c
        on c.TargetId = t.WhoId and t.occurred_at >= c.CreatedDate
    left join who as w on w.Id = t.WhoId
    left join owners as o on o.Id = t.OwnerId
    where t.activity_type is not null
),

salesforce_event_rows as (
    select
        e.Id as engagement_id,
        'salesforce' as crm,
        'meeting' as type,
        null::varchar as direction,
        crm.normalize_email(w.Email) as email,
        null::varchar as from_email,
        false as is_ooo,
        false as is_bounce,
        null::varchar as sent_by_sequence,
        coalesce(e.StartDateTime, e.CreatedDate) as occurred_at
    from raw_salesforce.Event as e
    left join who as w on w.Id = e.WhoId
    where not coalesce(e.IsDeleted, false)
),

-- a sequencer of its own (Outreach, Salesloft, Apollo; raw_sequencer.activity): a reply
-- is the person's inbound email (the vendors do not say whether it was an out-of-office
-- one, so it counts, erring toward excluding); its sends and their bounces are the
-- sequence's own outbound emails, tagged with the sequence. Unsubscribes flag crm.people.
sequencer_rows as (
    select
        a.crm || ':' || a.activity_id as engagement_id,
        a.crm,
        'email' as type,
        case when a.kind = 'reply' then 'inbound' else 'outbound' end as direction,
        coalesce(a.email, s.email) as email,
        case when a.kind = 'reply' then coalesce(a.email, s.email) end as from_email,
        false as is_ooo,
        a.kind = 'bounce' as is_bounce,
        case when a.kind <> 'reply' then coalesce(a.sequence_id, 'unknown') end
            as sent_by_sequence,
        a.occurred_at
    from raw_sequencer.activity as a
    left join raw_sequencer.people as s
        on s.crm = a.crm and s.contact_id = a.contact_id and a.email is null
    where a.kind in ('sent', 'reply', 'bounce') and a.occurred_at is not null
),

final as (
    select * from hubspot_email_rows
    union all
    select * from hubspot_meeting_rows
    union all
    -- a Salesforce email's sender: the person when they wrote, else the task's owner
    select * exclude (owner_email) replace (
        case when direction = 'inbound' then email else owner_email end as from_email
    )
    from salesforce_task_rows
    union all
    select * from salesforce_event_rows
    union all
    select * from sequencer_rows
)

select * from final
