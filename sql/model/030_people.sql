-- crm.people: one row per normalized email address, with the person's record id in each
-- CRM. Several records of one address (HubSpot contact, Salesforce Contact and Lead, in
-- any letter case or padding) are one person: names and owner come from the preferred
-- record (HubSpot, then Contact, then Lead; the most recently updated first), opt-outs
-- and bounces from any of them (and from bounced emails), so a flag set in one CRM is
-- never lost.
-- A converted lead is its contact now: it adds only its opt-out and bounce flags.
-- The columns seqguard.yml configures (columns.people, people_properties) ride along as
-- extra columns of each record, picked like the names: tasks/model.py reads each source
-- through a view (model_hubspot_contacts, ...) that adds them as `custom:<name>` (plus a
-- null `custom:` so the COLUMNS(...) lists are never empty).
with hubspot_owners as (
    select id, crm.normalize_email(email) as email from raw_hubspot.owners
),

salesforce_users as (
    select Id, crm.normalize_email(Email) as email from raw_salesforce."User"
),

company_records as (
    select 'hubspot' as crm, unnest(hubspot_ids) as record_id, company_domain
    from crm.companies
    union all
    select 'salesforce' as crm, unnest(salesforce_account_ids) as record_id, company_domain
    from crm.companies
),

-- the companies a HubSpot contact is associated with (a row each: the aggregate below
-- takes the first by domain, cheaper than grouping a million associations here)
hubspot_contact_companies as (
    select a.from_id as contact_id, r.company_domain
    from raw_hubspot.associations as a
    join company_records as r on r.crm = 'hubspot' and r.record_id = a.to_id
    where a.from_type = 'contacts' and a.to_type = 'companies'
),

hubspot_records as (
    select
        crm.normalize_email(c.email) as email,
        1 as source_rank,
        c.id as hubspot_id,
        nullif(trim(c.firstname), '') as first_name,
        nullif(trim(c.lastname), '') as last_name,
        o.email as owner_email,
        nullif(trim(c.lifecyclestage), '') as lifecycle_stage,
        crm.is_true(c.hs_email_optout) as is_unsubscribed,
        crm.is_true(c.hs_email_bad_address) as is_bounced,
        hc.company_domain as hubspot_company,
        nullif(trim(c.website), '') as website,
        c.created_at,
        c.updated_at,
        columns('^custom:')
    from model_hubspot_contacts as c
    left join hubspot_owners as o on o.id = c.hubspot_owner_id
    left join hubspot_contact_companies as hc on hc.contact_id = c.id
    where not coalesce(c.archived, false)
),

salesforce_contacts as (
    select
        crm.normalize_email(c.Email) as email,
        2 as source_rank,
        c.Id as salesforce_contact_id,
        nullif(trim(c.FirstName), '') as first_name,
        nullif(trim(c.LastName), '') as last_name,
        u.email as owner_email,
        coalesce(c.HasOptedOutOfEmail, false) as is_unsubscribed,
        nullif(trim(c.EmailBouncedReason), '') is not null
            or c.EmailBouncedDate is not null as is_bounced,
        r.company_domain as account_company,
        c.CreatedDate as created_at,
        c.LastModifiedDate as updated_at,
        columns('^custom:')
    from model_salesforce_contact as c
    left join salesforce_users as u on u.Id = c.OwnerId
    left join company_records as r on r.crm = 'salesforce' and r.record_id = c.AccountId
    where not coalesce(c.IsDeleted, false)
),

salesforce_leads as (
    select
        crm.normalize_email(l.Email) as email,
        3 as source_rank,
        l.Id as salesforce_lead_id,
        nullif(trim(l.FirstName), '') as first_name,
        nullif(trim(l.LastName), '') as last_name,
        u.email as owner_email,
        coalesce(l.HasOptedOutOfEmail, false) as is_unsubscribed,
        nullif(trim(l.EmailBouncedReason), '') is not null
            or l.EmailBouncedDate is not null as is_bounced,
        nullif(trim(l.Website), '') as website,
        l.CreatedDate as created_at,
        l.LastModifiedDate as updated_at,
        columns('^custom:')
    from model_salesforce_lead as l
    left join salesforce_users as u on u.Id = l.OwnerId
    where not coalesce(l.IsDeleted, false) and not coalesce(l.IsConverted, false)
),

converted_leads as (
    select
        crm.normalize_email(c.Email) as email,
        4 as source_rank,
        coalesce(l.HasOptedOutOfEmail, false) as is_unsubscribed,
        nullif(trim(l.EmailBouncedReason), '') is not null
            or l.EmailBouncedDate is not null as is_bounced
    from raw_salesforce.Lead as l
    join raw_salesforce.Contact as c on c.Id = l.ConvertedContactId
    where coalesce(l.IsConverted, false)
        and not coalesce(l.IsDeleted, false)
        and not coalesce(c.IsDeleted, false)
),

-- what a sequencer of its own saw (raw_sequencer.activity): an unsubscribe through its
-- email, or a bounce of it, flags the person like the CRMs' own flags
sequencer_flags as (
    select
        coalesce(a.email, s.email) as email,
        5 as source_rank,
        bool_or(a.kind = 'unsubscribe') as is_unsubscribed,
        bool_or(a.kind = 'bounce') as is_bounced
    from raw_sequencer.activity as a
    left join raw_sequencer.people as s
        on s.crm = a.crm and s.contact_id = a.contact_id and a.email is null
    where a.kind in ('unsubscribe', 'bounce')
    group by all
),

records as (
    select
        *,
        -- lower sorts first: the CRM's rank, then the most recently updated record
        crm.preference(
            source_rank, updated_at,
            coalesce(hubspot_id, salesforce_contact_id, salesforce_lead_id)
        ) as preference
    from (
        select * from hubspot_records
        union all by name
        select * from salesforce_contacts
        union all by name
        select * from salesforce_leads
        union all by name
        select * from converted_leads
        union all by name
        select * from sequencer_flags
    )
),

-- an address an email to which bounced (what crm.engagements marks is_bounce); read
-- from raw so people need not wait for engagements, which map addresses to people
bounced_addresses as (
    select distinct crm.first_email(hs_email_to_email) as email
    from raw_hubspot.emails
    where hs_email_status = 'BOUNCED' and not coalesce(archived, false)
),

people as (
    -- arg_min skips nulls: each column comes from the most preferred record that has it
    select
        email,
        arg_min(hubspot_id, preference) as hubspot_id,
        arg_min(salesforce_contact_id, preference) as salesforce_contact_id,
        arg_min(salesforce_lead_id, preference) as salesforce_lead_id,
        arg_min(first_name, preference) as first_name,
        arg_min(last_name, preference) as last_name,
        arg_min(owner_email, preference) as owner_email,
        -- several HubSpot records: the most advanced stage any of them reached, then
        -- the preferred record's
        arg_max(
            lifecycle_stage,
            ((crm.lifecycle_rank(lifecycle_stage) + 2)::hugeint << 110) - preference
        ) as lifecycle_stage,
        bool_or(is_unsubscribed) as is_unsubscribed,
        bool_or(is_bounced) as is_bounced,
        min(hubspot_company) as hubspot_company,
        arg_min(account_company, preference) as account_company,
        -- normalized below, only for the people nothing else places
        arg_min(website, preference) as website,
        min(created_at) as created_at,
        max(updated_at) as updated_at,
        arg_min(columns('^custom:'), preference)
    from records
    group by email
    -- records without a usable address fall into one null group, dropped here (filtering
    -- before would normalize every address twice)
    having email is not null
),

-- the company: the one a CRM associates the person with, else their email's domain
-- (unless a mailbox provider's), else the website on their lead or contact record;
-- an alias or a folded duplicate's domain becomes the company's own domain
with_company as (
    select
        p.* exclude (website),
        -- a case, not coalesce: DuckDB evaluates only the branch each row takes, so the
        -- website is normalized for the few people nothing else places
        case
            when p.hubspot_company is not null then p.hubspot_company
            when p.account_company is not null then p.account_company
            when not crm.is_free_mail_domain(crm.email_domain(p.email))
                then crm.email_domain(p.email)
            when not crm.is_free_mail_domain(crm.normalize_domain(p.website))
                then crm.normalize_domain(p.website)
        end as found_domain
    from people as p
),

final as (
    select
        p.email,
        p.first_name,
        p.last_name,
        coalesce(d.company_domain, p.found_domain) as company_domain,
        p.owner_email,
        p.lifecycle_stage,
        p.is_unsubscribed,
        p.is_bounced or b.email is not null as is_bounced,
        p.hubspot_id,
        p.salesforce_contact_id,
        p.salesforce_lead_id,
        p.created_at,
        p.updated_at,
        columns('^custom:')
    from with_company as p
    left join crm.company_domains as d on d.domain = p.found_domain
    left join bounced_addresses as b on b.email = p.email
)

select * from final
