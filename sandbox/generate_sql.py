"""The SQL that generates the sandbox's CRM data, one statement per table.

Every value is a function of `hash($seed, '<what>', <row number>)`, never of random(),
so the same seed and sizes give identical rows whatever DuckDB's thread count, and every
row is built by DuckDB in bulk. Helper tables `g_company` and `g_person` hold the
entities both CRMs share (a person, their company, their Salesforce record numbers);
the tables `g_deal`, `g_opp`, `g_email` and `g_meeting` number the rows that two
statements must agree on (the record and its associations). Each insert ends in
`order by` its id: rows stored in id order let DuckDB's zone maps skip row groups, which
makes the APIs' `id > after order by id limit n` pages about 3x cheaper.

Macros (created by `MACROS`): `sg_mod(h, n)` a hash modulo n as bigint; `sg_pick(list, h)`
one element; `sg_iso(ts)` HubSpot's datetime string; `sg_sfid(prefix, n)` a Salesforce
id; word lists `sg_<name>()`.
"""

from __future__ import annotations

from sandbox.ids import salesforce_id_sql

FIRST_NAMES = (
    "Aaliyah", "Aaron", "Abigail", "Adrian", "Aisha", "Alejandro", "Amara", "Andrea", "Anton",
    "Beatriz", "Benjamin", "Bianca", "Carlos", "Chen", "Chloe", "Daniel", "Dmitri", "Elena",
    "Emeka", "Emily", "Farah", "Felix", "Fatima", "Gabriel", "Grace", "Hannah", "Hiro",
    "Ibrahim", "Ingrid", "Isabella", "Jamal", "James", "Jana", "Javier", "Julia", "Kai",
    "Kavya", "Laura", "Leon", "Liam", "Lucia", "Marco", "Maria", "Mateo", "Mei", "Mohammed",
    "Nadia", "Noah", "Olivia", "Omar", "Priya", "Rafael", "Rosa", "Samuel", "Sofia", "Tariq",
    "Thomas", "Valentina", "Wei", "Yusuf", "Zoe",
)
LAST_NAMES = (
    "Adeyemi", "Alvarez", "Andersen", "Bauer", "Becker", "Brown", "Chen", "Costa", "Cruz",
    "Das", "Dubois", "Eriksson", "Fernandes", "Fischer", "Garcia", "Gupta", "Hansen",
    "Hoffmann", "Ito", "Jansen", "Johnson", "Kim", "Kowalski", "Kumar", "Larsen", "Lee",
    "Lopez", "Martin", "Meyer", "Mendes", "Morales", "Murphy", "Nakamura", "Nielsen",
    "Okonkwo", "Olsen", "Park", "Patel", "Peters", "Rossi", "Santos", "Schmidt", "Silva",
    "Singh", "Smith", "Suzuki", "Tanaka", "Taylor", "Torres", "Virtanen", "Wagner", "Walker",
    "Wang", "Weber", "Williams", "Wilson", "Yamamoto", "Zhang",
)
ADJECTIVES = (
    "Alpine", "Amber", "Atlas", "Blue", "Bold", "Bright", "Cedar", "Clear", "Coastal", "Cobalt",
    "Crimson", "Echo", "Golden", "Granite", "Green", "Harbor", "Iron", "Lunar", "Maple",
    "Nimble", "North", "Nova", "Open", "Pacific", "Polar", "Prime", "Quantum", "Rapid", "Red",
    "Silver", "Solar", "Summit", "Swift", "True", "Urban", "Vivid",
)
NOUNS = (
    "Anchor", "Arrow", "Beacon", "Bridge", "Canyon", "Cloud", "Crest", "Falcon", "Field",
    "Forge", "Gate", "Grid", "Grove", "Hive", "Lake", "Leaf", "Ledger", "Loop", "Mesa",
    "Metrics", "Orbit", "Path", "Peak", "Pine", "Pixel", "Point", "Pulse", "Ridge", "River",
    "Signal", "Spark", "Stack", "Stone", "Vector", "Wave", "Works",
)
COMPANY_SUFFIXES = (
    "Inc", "Inc.", "LLC", "Ltd", "GmbH", "Group", "Technologies", "Systems", "Solutions",
    "Labs", "Partners", "Analytics", "Health", "Logistics", "Software", "Co.",
)
TLDS = ("com", "com", "com", "com", "com", "com", "com", "io", "io", "co", "net", "ai",
        "de", "co.uk", "fr")
PERSONAL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me")
TITLES = (
    "CEO", "CTO", "VP Sales", "VP Marketing", "Head of RevOps", "Sales Manager",
    "Account Executive", "Data Engineer", "Marketing Manager", "Procurement Lead",
    "Operations Manager", "Software Engineer", "CFO", "Director of IT",
)
TOPICS = (
    "Quick question", "Following up", "Intro call next week?", "Pricing details",
    "Your trial", "Next steps", "Case study you asked for", "Renewal",
    "Webinar recording", "Meeting notes",
)
MEETING_TITLES = ("Discovery call", "Product demo", "Intro call", "Pricing review", "QBR")
DEAL_KINDS = ("New Business", "Renewal", "Expansion", "Pilot", "Upsell")
INDUSTRY_VALUES = (
    "COMPUTER_SOFTWARE", "FINANCIAL_SERVICES", "HOSPITAL_HEALTH_CARE", "RETAIL",
    "MARKETING_AND_ADVERTISING", "LOGISTICS_AND_SUPPLY_CHAIN", "EDUCATION_MANAGEMENT",
    "MANUFACTURING",
)
INDUSTRY_LABELS = (
    "Computer Software", "Financial Services", "Hospital & Health Care", "Retail",
    "Marketing and Advertising", "Logistics and Supply Chain", "Education Management",
    "Manufacturing",
)

WORD_LISTS = {
    "first_names": FIRST_NAMES, "last_names": LAST_NAMES, "adjectives": ADJECTIVES,
    "nouns": NOUNS, "company_suffixes": COMPANY_SUFFIXES, "tlds": TLDS,
    "personal_domains": PERSONAL_DOMAINS, "titles": TITLES, "topics": TOPICS,
    "meeting_titles": MEETING_TITLES, "deal_kinds": DEAL_KINDS,
    "industry_values": INDUSTRY_VALUES, "industry_labels": INDUSTRY_LABELS,
}


def _literal_list(words: tuple[str, ...]) -> str:
    """A DuckDB list literal of our own constant words (quotes doubled)."""
    return "[" + ", ".join("'" + w.replace("'", "''") + "'" for w in words) + "]"


MACROS = [
    "create or replace temp macro sg_mod(h, n) as (h % cast(n as ubigint))::bigint",
    "create or replace temp macro sg_pick(xs, h) as xs[1 + sg_mod(h, len(xs))]",
    "create or replace temp macro sg_unit(h) as sg_mod(h, 1000000) / 1000000.0",
    "create or replace temp macro sg_iso(ts) as strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ')",
    "create or replace temp macro sg_sfid(prefix, n) as " + salesforce_id_sql("prefix", "n"),
    # the same person typed into Salesforce by hand: capitalized, padded, shouted
    """create or replace temp macro sg_email_variant(e, v) as
       case when v < 20 then upper(e[1]) || e[2:]
            when v < 28 then ' ' || e
            when v < 34 then e || ' '
            when v < 38 then upper(e)
            else e end""",
] + [
    f"create or replace temp macro sg_{name}() as {_literal_list(words)}"
    for name, words in WORD_LISTS.items()
]

# companies: the last `duplicates` records repeat the domain of an earlier one; each
# canonical company's domain is unique (adjective+noun, then a round number)
COMPANIES = """
create temp table g_company as
with base as (
    select k,
           case when k >= $companies - $duplicates
                then sg_mod(hash($seed, 'duplicate_of', k), $companies - $duplicates)
                else k end as canon,
           sg_mod(hash($seed, 'account', k), 100) < 60 as has_account
    from range($companies) t(k)
), named as (
    select *,
           sg_adjectives()[1 + canon % len(sg_adjectives())] as adj,
           sg_nouns()[1 + (canon // len(sg_adjectives())) % len(sg_nouns())] as noun,
           canon // (len(sg_adjectives()) * len(sg_nouns())) as round
    from base
), final as (
    select k, canon, k <> canon as is_duplicate, adj, noun,
           case when has_account
                then row_number() over (partition by has_account order by k) end as account_n,
           adj || ' ' || noun || ' '
               || sg_pick(sg_company_suffixes(), hash($seed, 'suffix', canon)) as canonical_name,
           lower(adj || noun) || case when round > 0 then round::varchar else '' end as base
    from named
)
select k, canon, is_duplicate, account_n, base,
       base || '.' || sg_pick(sg_tlds(), hash($seed, 'tld', canon)) as domain,
       case when not is_duplicate then canonical_name
            when sg_mod(hash($seed, 'duplicate_name', k), 3) = 0 then canonical_name
            when sg_mod(hash($seed, 'duplicate_name', k), 3) = 1 then adj || ' ' || noun
            else upper(canonical_name) end as name
from final
"""

# people: the first $contacts are HubSpot contacts (id p + 1); the rest exist only in
# Salesforce. sf_bucket splits them: Contact, Lead, both (a converted lead), or neither.
PEOPLE = """
create temp table g_person as
with base as (
    select p, p < $contacts as in_hs,
           case when sg_mod(hash($seed, 'big_company', p), 5) = 0
                then least(floor($companies * pow(sg_unit(hash($seed, 'skew', p)), 3)),
                           $companies - 1)::bigint
                else sg_mod(hash($seed, 'company', p), $companies) end as k,
           sg_pick(sg_first_names(), hash($seed, 'first', p)) as first_name,
           sg_pick(sg_last_names(), hash($seed, 'last', p)) as last_name,
           sg_mod(hash($seed, 'sf', p), 100) as sf_bucket,
           sg_mod(hash($seed, 'owner', p), $owners + 1) as owner_slot,
           sg_mod(hash($seed, 'created', p), $span) as created_ago,
           sg_mod(hash($seed, 'personal', p), 100) < 4 as personal,
           sg_mod(hash($seed, 'optout', p), 100) < 4 as optout,
           sg_mod(hash($seed, 'bounce', p), 100) < 2 as bounced,
           sg_mod(hash($seed, 'alias', p), 100) < 3 as has_alias,
           sg_mod(hash($seed, 'local', p), 4) as local_style
    from range($people) t(p)
), membership as (
    select *,
           case when in_hs then sf_bucket < 30 or sf_bucket in (40, 41)
                else sf_bucket < 50 end as sf_contact,
           case when in_hs then sf_bucket between 30 and 41
                else sf_bucket >= 50 end as sf_lead,
           case when local_style = 2 then lower(first_name[1]) || lower(last_name)
                when local_style = 3 then lower(first_name) || '_' || lower(last_name)
                else lower(first_name) || '.' || lower(last_name) end
               || p::varchar as local_part
    from base
)
select m.p, m.in_hs, m.k, m.first_name, m.last_name, m.owner_slot, m.created_ago,
       m.optout, m.bounced,
       local_part || '@' || case
           when personal then sg_pick(sg_personal_domains(), hash($seed, 'personal_domain', p))
           else c.domain end as email,
       case when has_alias then local_part || '@' || case
           when personal then c.domain
           else sg_pick(sg_personal_domains(), hash($seed, 'alias_domain', p)) end
       end as alias,
       case when sf_contact
            then row_number() over (partition by sf_contact order by p) end as contact_n,
       case when sf_lead then row_number() over (partition by sf_lead order by p) end as lead_n
from membership m join g_company c using (k)
"""

OWNERS_CTE = """owners as (
    select list(id order by id) as ids, list(email order by id) as emails from hs_owners
), users as (select list(Id order by Id) as ids from sf_user)"""

HS_COMPANIES = f"""
insert into hs_companies (id, created_at, updated_at, name, domain, hs_additional_domains,
                          lifecyclestage, industry, hubspot_owner_id)
with {OWNERS_CTE}, c as (
    select g.*, sg_mod(hash($seed, 'company_created', k), $span) as created_ago,
           sg_mod(hash($seed, 'domain_variant', k), 100) as dv,
           sg_mod(hash($seed, 'extra_domains', k), 100) as xv,
           sg_mod(hash($seed, 'company_stage', k), 100) as sv
    from g_company g
)
select k + 1, $now - to_seconds(created_ago),
       $now - to_seconds(sg_mod(hash($seed, 'company_updated', k), created_ago + 1)),
       name,
       case when dv < 4 then 'www.' || domain
            when dv < 7 then upper(domain)
            when dv < 9 then 'https://www.' || domain || '/about'
            when dv < 11 then domain || '/'
            when dv < 12 then null
            else domain end,
       case when xv < 3 then base || '-group.com'
            when xv < 5 then base || '.io;' || base || '-hq.com' end,
       case when sv < 10 then 'subscriber' when sv < 50 then 'lead'
            when sv < 60 then 'salesqualifiedlead' when sv < 70 then 'opportunity'
            when sv < 90 then 'customer' end,
       sg_pick(sg_industry_values(), hash($seed, 'industry', k)),
       owners.ids[1 + sg_mod(hash($seed, 'company_owner', k), $owners + 1)]
from c, owners
order by k
"""

SF_ACCOUNTS = f"""
insert into sf_account (Id, CreatedDate, LastModifiedDate, SystemModstamp, Name, Website,
                        Type, Industry, OwnerId)
with {OWNERS_CTE}, a as (
    select g.*, sg_mod(hash($seed, 'account_created', k), $span) as created_ago,
           sg_mod(hash($seed, 'website_variant', k), 100) as wv,
           sg_mod(hash($seed, 'account_type', k), 100) as tv
    from g_company g where account_n is not null
), final as (
    select *, $now - to_seconds(sg_mod(hash($seed, 'account_updated', k), created_ago + 1))
              as modified
    from a
)
select sg_sfid('001', account_n), $now - to_seconds(created_ago), modified, modified, name,
       case when wv < 25 then 'https://www.' || domain
            when wv < 40 then 'http://' || domain || '/'
            when wv < 55 then 'www.' || domain
            when wv < 62 then upper(domain)
            when wv < 70 then 'https://' || domain || '/en-us/home'
            when wv < 75 then null
            else domain end,
       case when tv < 50 then 'Prospect' when tv < 75 then 'Customer - Direct'
            when tv < 83 then 'Customer - Channel' when tv < 90 then 'Partner'
            else 'Other' end,
       sg_pick(sg_industry_labels(), hash($seed, 'industry', k)),
       users.ids[1 + sg_mod(hash($seed, 'account_owner', k), $owners)]
from final, users
order by account_n
"""

HS_CONTACTS = f"""
insert into hs_contacts (id, created_at, updated_at, email, firstname, lastname, company,
                         website, lifecyclestage, hubspot_owner_id, hs_email_optout,
                         hs_email_bad_address, hs_additional_emails, product_interest)
with {OWNERS_CTE}, g as (
    select g.*, c.name as company_name, c.domain,
           sg_mod(hash($seed, 'stage', p), 100) as sv,
           sg_mod(hash($seed, 'website', p), 10) as wv,
           sg_mod(hash($seed, 'optout_unset', p), 100) as ov,
           sg_mod(hash($seed, 'interest', p), 64) as interest
    from g_person g join g_company c using (k)
    where in_hs
)
select p + 1, $now - to_seconds(created_ago),
       $now - to_seconds(sg_mod(hash($seed, 'updated', p), created_ago + 1)),
       email, first_name, last_name, company_name,
       case when wv = 0 then 'www.' || domain when wv = 1 then 'http://' || domain
            when wv < 5 then domain end,
       case when sv < 8 then 'subscriber' when sv < 40 then 'lead'
            when sv < 52 then 'marketingqualifiedlead' when sv < 60 then 'salesqualifiedlead'
            when sv < 70 then 'opportunity' when sv < 85 then 'customer'
            when sv < 88 then 'evangelist' when sv < 92 then 'other' end,
       owners.ids[1 + owner_slot],
       case when optout then 'true' when ov < 60 then 'false' end,
       case when bounced then 'true' when ov < 30 then 'false' end,
       case when alias is not null and sg_mod(hash($seed, 'two_aliases', p), 3) = 0
            then alias || ';' || replace(email, '@', '+news@')
            else alias end,
       -- a multi-select: the options whose bit is set, joined by ';' as HubSpot stores them
       case when interest >= 32 then nullif(concat_ws(';',
            case when interest & 1 = 1 then 'analytics' end,
            case when interest & 2 = 2 then 'crm_sync' end,
            case when interest & 4 = 4 then 'ai_assist' end,
            case when interest & 8 = 8 then 'data_enrichment' end,
            case when interest & 16 = 16 then 'api_access' end), '') end
from g, owners
order by p
"""

# Salesforce people: the same person's email typed differently; opt-outs and bounces
# mostly agree with HubSpot but not always (and some exist only on this side)
SF_CONTACTS = f"""
insert into sf_contact (Id, CreatedDate, LastModifiedDate, SystemModstamp, FirstName,
                        LastName, Email, AccountId, OwnerId, HasOptedOutOfEmail,
                        EmailBouncedReason, EmailBouncedDate, Title)
with {OWNERS_CTE}, g as (
    select g.*, c.account_n,
           sg_mod(hash($seed, 'sf_contact_created', p), $span) as sf_created_ago,
           sg_mod(hash($seed, 'sf_contact_email', p), 100) as ev,
           sg_mod(hash($seed, 'sf_contact_flags', p), 100) as fv
    from g_person g join g_company c using (k)
    where contact_n is not null
), final as (
    select *, $now - to_seconds(sg_mod(hash($seed, 'sf_contact_updated', p),
                                       sf_created_ago + 1)) as modified
    from g
)
select sg_sfid('003', contact_n), $now - to_seconds(sf_created_ago), modified, modified,
       first_name, last_name, sg_email_variant(email, ev),
       case when account_n is not null then sg_sfid('001', account_n) end,
       users.ids[1 + owner_slot % $owners],
       (optout and fv < 60) or fv >= 98,
       case when (bounced and fv < 70) or fv = 97
            then '550 5.1.1 <' || email || '>: Recipient address rejected: User unknown' end,
       case when (bounced and fv < 70) or fv = 97
            then $now - to_seconds(sg_mod(hash($seed, 'bounced_at', p), 90 * 86400)) end,
       sg_pick(sg_titles(), hash($seed, 'title', p))
from final, users
order by contact_n
"""

SF_LEADS = f"""
insert into sf_lead (Id, CreatedDate, LastModifiedDate, SystemModstamp, FirstName, LastName,
                     Email, Company, Website, Status, IsConverted, ConvertedContactId,
                     OwnerId, HasOptedOutOfEmail, EmailBouncedReason, EmailBouncedDate)
with {OWNERS_CTE}, g as (
    select g.*, c.name as company_name, c.domain,
           sg_mod(hash($seed, 'lead_created', p), $span) as lead_created_ago,
           sg_mod(hash($seed, 'lead_email', p), 100) as ev,
           sg_mod(hash($seed, 'lead_status', p), 100) as sv,
           sg_mod(hash($seed, 'lead_flags', p), 100) as fv
    from g_person g join g_company c using (k)
    where lead_n is not null
), final as (
    select *, $now - to_seconds(sg_mod(hash($seed, 'lead_updated', p), lead_created_ago + 1))
              as modified
    from g
)
select sg_sfid('00Q', lead_n), $now - to_seconds(lead_created_ago), modified, modified,
       first_name, last_name, sg_email_variant(email, ev), company_name,
       case when sv < 30 then 'https://www.' || domain when sv < 50 then domain
            when sv < 55 then upper(domain) || '/' end,
       case when contact_n is not null then 'Closed - Converted'
            when sv < 45 then 'Open - Not Contacted' when sv < 80 then 'Working - Contacted'
            else 'Closed - Not Converted' end,
       contact_n is not null,
       case when contact_n is not null then sg_sfid('003', contact_n) end,
       users.ids[1 + owner_slot % $owners],
       (optout and fv < 60) or fv >= 98,
       case when (bounced and fv < 70) or fv = 97
            then '550 5.1.1 <' || email || '>: Recipient address rejected: User unknown' end,
       case when (bounced and fv < 70) or fv = 97
            then $now - to_seconds(sg_mod(hash($seed, 'lead_bounced_at', p), 90 * 86400)) end
from final, users
order by lead_n
"""

DEALS_VIEW = """
create temp table g_deal as
with d as (
    select d, sg_mod(hash($seed, 'deal_company', d), $companies) as k,
           sg_mod(hash($seed, 'deal_stage', d), 100) as sv
    from range($deals) t(d)
)
select d, k,
       case when sv < 12 then 'appointmentscheduled' when sv < 24 then 'qualifiedtobuy'
            when sv < 34 then 'presentationscheduled' when sv < 42 then 'decisionmakerboughtin'
            when sv < 50 then 'contractsent' when sv < 75 then 'closedwon'
            else 'closedlost' end as stage
from d
"""

HS_DEALS = f"""
insert into hs_deals (id, created_at, updated_at, dealname, pipeline, dealstage, amount,
                      closedate, hs_is_closed, hs_is_closed_won, hubspot_owner_id)
with {OWNERS_CTE}, g as (
    select g.*, c.name as company_name, stage in ('closedwon', 'closedlost') as closed,
           sg_mod(hash($seed, 'deal_created', d), $span) as created_ago,
           sg_mod(hash($seed, 'amount', d), 1500) as av
    from g_deal g join g_company c using (k)
), final as (
    select *, $now - to_seconds(sg_mod(hash($seed, 'deal_updated', d), created_ago + 1))
              as modified
    from g
)
select d + 1, $now - to_seconds(created_ago), modified,
       company_name || ' - ' || sg_pick(sg_deal_kinds(), hash($seed, 'deal_kind', d)),
       'default', stage,
       ((10 + av) * 100)::varchar || case when av % 10 = 0 then '.50' else '' end,
       sg_iso(case when closed then modified
                   else date_trunc('day', $now)
                        + to_days(1 + sg_mod(hash($seed, 'close_in', d), 180)) end),
       closed::varchar, (stage = 'closedwon')::varchar,
       owners.ids[1 + sg_mod(hash($seed, 'deal_owner', d), $owners)]
from final, owners
order by d
"""

# a tenth of the Opportunities mirror a HubSpot deal of the same company with the
# opposite state (open there, closed here or the reverse); the rest are independent
OPPORTUNITIES_VIEW = """
create temp table g_opp as
with mirrored as (
    select d, g.k, stage
    from g_deal g join g_company c using (k)
    where c.account_n is not null
    qualify row_number() over (order by d) <= $mirrors
), own as (
    select o, c.k, sg_mod(hash($seed, 'opp_stage', o), 100) as sv
    from range($mirrors, $opportunities) t(o)
    join g_company c on c.account_n = 1 + sg_mod(hash($seed, 'opp_account', o), $accounts)
), both_kinds as (
    select d as o, k, d as mirror_of,
           case when stage in ('closedwon', 'closedlost') then 'Negotiation/Review'
                else 'Closed Lost' end as stage_name
    from mirrored
    union all
    select o, k, null,
           case when sv < 12 then 'Prospecting' when sv < 24 then 'Qualification'
                when sv < 34 then 'Needs Analysis' when sv < 42 then 'Proposal/Price Quote'
                when sv < 50 then 'Negotiation/Review' when sv < 75 then 'Closed Won'
                else 'Closed Lost' end
    from own
)
select row_number() over (order by mirror_of is null, o) as opp_n, o, k, mirror_of,
       stage_name
from both_kinds
"""

SF_OPPORTUNITIES = f"""
insert into sf_opportunity (Id, CreatedDate, LastModifiedDate, SystemModstamp, Name,
                            AccountId, StageName, IsClosed, IsWon, Amount, CloseDate, OwnerId)
with {OWNERS_CTE}, g as (
    select g.*, c.name as company_name, c.account_n,
           stage_name in ('Closed Won', 'Closed Lost') as closed,
           sg_mod(hash($seed, 'opp_created', opp_n), $span) as created_ago
    from g_opp g join g_company c using (k)
), final as (
    select *, $now - to_seconds(sg_mod(hash($seed, 'opp_updated', opp_n), created_ago + 1))
              as modified
    from g
)
select sg_sfid('006', opp_n), $now - to_seconds(created_ago), modified, modified,
       company_name || ' - ' || sg_pick(sg_deal_kinds(), hash($seed, 'opp_kind', opp_n)),
       sg_sfid('001', account_n), stage_name, closed, stage_name = 'Closed Won',
       (10 + sg_mod(hash($seed, 'opp_amount', opp_n), 1500)) * 100.0,
       case when closed then modified::date
            else ($now::date + to_days(1 + sg_mod(hash($seed, 'opp_close_in', opp_n), 180)))::date
       end,
       users.ids[1 + sg_mod(hash($seed, 'opp_owner', opp_n), $owners)]
from final, users
order by opp_n
"""

SF_CONTACT_ROLES = """
insert into sf_opportunitycontactrole (Id, CreatedDate, LastModifiedDate, SystemModstamp,
                                       OpportunityId, ContactId, Role, IsPrimary)
with roles as (
    select o.opp_n, g.contact_n,
           row_number() over (partition by o.opp_n
                              order by hash($seed, 'role_contact', o.opp_n, g.p)) as r
    from g_opp o join g_person g on g.k = o.k and g.contact_n is not null
    qualify r <= 1 + sg_mod(hash($seed, 'roles', o.opp_n), 2)
), final as (
    select *, row_number() over (order by opp_n, r) as n,
           $now - to_seconds(sg_mod(hash($seed, 'role_created', opp_n, r), $span)) as created
    from roles
)
select sg_sfid('00K', n), created, created, created, sg_sfid('006', opp_n),
       sg_sfid('003', contact_n),
       sg_pick(['Decision Maker', 'Economic Buyer', 'Evaluator', 'Influencer',
                'Business User'], hash($seed, 'role', opp_n, r)),
       r = 1
from final
order by n
"""

EMAILS_VIEW = """
create temp table g_email as
with kinds as (
    select p, 'outbound' as kind, unnest(range(1 + sg_mod(hash($seed, 'outbound_n', p), 2))) as j
    from g_person where in_hs and sg_mod(hash($seed, 'outbound', p), 100) < 35
    union all
    select p, 'bounce', 0 from g_person where in_hs and bounced
    union all
    select p, 'reply', 0 from g_person
    where in_hs and sg_mod(hash($seed, 'reply', p), 100) < 10
    union all
    select p, 'ooo', 0 from g_person where in_hs and sg_mod(hash($seed, 'ooo', p), 100) < 4
    union all
    select p, 'forward', 0 from g_person
    where in_hs and sg_mod(hash($seed, 'forward', p), 100) < 1
)
select row_number() over (order by p, kind, j) as id, p, kind from kinds
"""

# replies come from the contact (sometimes from an alias); out-of-office replies are told
# by subject or by headers, and one in five real replies says "Auto-Submitted: no"
HS_EMAILS = f"""
insert into hs_emails (id, created_at, updated_at, hs_timestamp, hs_email_direction,
                       hs_email_from_email, hs_email_to_email, hs_email_subject,
                       hs_email_headers, hs_email_status, hs_sequence_id, hubspot_owner_id)
with {OWNERS_CTE}, e as (
    select e.id, e.kind, g.email, g.alias, g.created_ago,
           owners.ids[1 + g.owner_slot % $owners] as owner_id,
           owners.emails[1 + g.owner_slot % $owners] as owner_email,
           sg_pick(sg_topics(), hash($seed, 'topic', e.id)) as topic,
           sg_mod(hash($seed, 'email_variant', e.id), 100) as v
    from g_email e join g_person g using (p), owners
), final as (
    select *, kind in ('reply', 'ooo') as incoming,
           $now - to_seconds(sg_mod(hash($seed, 'email_at', id), created_ago + 1)) as sent_at
    from e
)
select id, sent_at, sent_at, sg_iso(sent_at),
       case when incoming then 'INCOMING_EMAIL' when kind = 'forward' then 'FORWARDED_EMAIL'
            else 'EMAIL' end,
       case when kind = 'reply' and alias is not null and v < 50 then split_part(alias, ';', 1)
            when incoming then email else owner_email end,
       case when incoming then owner_email else email end,
       case when kind = 'reply' then 'Re: ' || topic
            when kind = 'forward' then 'Fwd: ' || topic
            when kind = 'ooo' and v < 35 then 'Automatic reply: ' || topic
            when kind = 'ooo' and v < 50 then 'Out of Office: Re: ' || topic
            when kind = 'ooo' then 'Re: ' || topic
            else topic end,
       case when kind = 'ooo' and v >= 50 and v < 75 then '{{"Auto-Submitted": "auto-replied"}}'
            when kind = 'ooo' and v >= 75 then '{{"X-Autoreply": "yes"}}'
            when kind = 'reply' and v < 20 then '{{"Auto-Submitted": "no"}}' end,
       case when kind = 'bounce' then 'BOUNCED' when not incoming then 'SENT' end,
       null, owner_id
from final
order by id
"""

MEETINGS_VIEW = """
create temp table g_meeting as
select row_number() over (order by p) as id, p
from g_person where in_hs and sg_mod(hash($seed, 'meeting', p), 100) < 6
"""

HS_MEETINGS = f"""
insert into hs_meetings (id, created_at, updated_at, hs_timestamp, hs_meeting_title,
                         hs_meeting_outcome, hs_attendee_email, hubspot_owner_id)
with {OWNERS_CTE}, m as (
    select m.id, g.email, g.first_name, g.created_ago,
           owners.ids[1 + g.owner_slot % $owners] as owner_id,
           sg_mod(hash($seed, 'outcome', m.id), 100) as ov
    from g_meeting m join g_person g using (p), owners
), final as (
    select *, $now - to_seconds(sg_mod(hash($seed, 'booked_at', id), created_ago + 1)) as booked,
           case when ov < 20 then $now + to_seconds(sg_mod(hash($seed, 'meet_in', id), 14 * 86400))
                else $now - to_seconds(sg_mod(hash($seed, 'met_at', id), created_ago + 1))
           end as meets_at
    from m
)
select id, least(booked, meets_at), least(booked, meets_at), sg_iso(meets_at),
       sg_pick(sg_meeting_titles(), hash($seed, 'meeting_title', id)) || ' with ' || first_name,
       case when ov < 20 then 'SCHEDULED' when ov < 70 then 'COMPLETED'
            when ov < 80 then 'RESCHEDULED' when ov < 90 then 'NO_SHOW' else 'CANCELED' end,
       email, owner_id
from final
order by id
"""

SF_TASKS = f"""
insert into sf_task (Id, CreatedDate, LastModifiedDate, SystemModstamp, Subject, WhoId, WhatId,
                     OwnerId, Status, TaskSubtype, Type, Description, ActivityDate,
                     CompletedDateTime)
with {OWNERS_CTE}, who as (
    select g.p, g.first_name, g.owner_slot, g.created_ago,
           coalesce(sg_sfid('003', g.contact_n), sg_sfid('00Q', g.lead_n)) as who_id,
           case when g.contact_n is not null and c.account_n is not null
                then sg_sfid('001', c.account_n) end as account_id
    from g_person g join g_company c using (k)
    where (g.contact_n is not null or g.lead_n is not null)
      and sg_mod(hash($seed, 'tasks', g.p), 100) < 50
), t as (
    select *, unnest(range(1 + sg_mod(hash($seed, 'task_n', p), 2))) as j from who
), final as (
    select *, row_number() over (order by p, j) as n,
           sg_mod(hash($seed, 'task_kind', p, j), 100) as kv,
           sg_mod(hash($seed, 'task_status', p, j), 100) < 85 as completed,
           $now - to_seconds(sg_mod(hash($seed, 'task_at', p, j), created_ago + 1)) as done_at,
           sg_pick(sg_topics(), hash($seed, 'task_topic', p, j)) as topic
    from t
)
select sg_sfid('00T', n), done_at, done_at, done_at,
       case when kv < 40 then 'Call'
            when kv < 42 then 'Email: Automatic reply: ' || topic
            when kv < 47 then 'Email: Re: ' || topic
            when kv < 85 then 'Email: ' || topic
            else 'Follow up with ' || first_name end,
       who_id, case when kv % 2 = 0 then account_id end,
       users.ids[1 + owner_slot % $owners],
       case when completed then 'Completed' else 'Not Started' end,
       case when kv < 40 then 'Call' when kv < 85 then 'Email' else 'Task' end,
       case when kv < 40 then 'Call' when kv < 85 then 'Email' end,
       case when kv < 40 then 'Left a voicemail' end,
       done_at::date, case when completed then done_at end
from final, users
order by n
"""

SF_EVENTS = f"""
insert into sf_event (Id, CreatedDate, LastModifiedDate, SystemModstamp, Subject, WhoId,
                      WhatId, OwnerId, StartDateTime, EndDateTime)
with {OWNERS_CTE}, e as (
    select g.p, g.first_name, g.owner_slot, g.created_ago, sg_sfid('003', g.contact_n) as who_id,
           case when c.account_n is not null then sg_sfid('001', c.account_n) end as account_id
    from g_person g join g_company c using (k)
    where g.contact_n is not null and sg_mod(hash($seed, 'event', g.p), 100) < 5
), final as (
    select *, row_number() over (order by p) as n,
           case when sg_mod(hash($seed, 'event_future', p), 100) < 20
                then $now + to_seconds(sg_mod(hash($seed, 'event_in', p), 14 * 86400))
                else $now - to_seconds(sg_mod(hash($seed, 'event_at', p), created_ago + 1))
           end as starts
    from e
)
select sg_sfid('00U', n), least(starts, $now), least(starts, $now), least(starts, $now),
       'Meeting: ' || sg_pick(sg_meeting_titles(), hash($seed, 'event_title', p)),
       who_id, account_id, users.ids[1 + owner_slot % $owners], starts,
       starts + to_minutes(30 * (1 + sg_mod(hash($seed, 'event_length', p), 2)))
from final, users
order by n
"""

# HubSpot's own association type ids (one direction stored; the API serves both)
ASSOCIATIONS = """
insert into hs_associations (from_type, from_id, to_type, to_id, type_id)
select * from (
select 'contacts', p + 1, 'companies', k + 1, 1 from g_person
where in_hs and sg_mod(hash($seed, 'no_company', p), 100) >= 3
union all
select 'deals', d + 1, 'companies', k + 1, 5 from g_deal
union all
select 'deals', d + 1, 'contacts', p + 1, 3 from (
    select d, p, row_number() over (partition by d order by hash($seed, 'deal_contact', d, p))
                 as r
    from g_deal join g_person using (k)
    where in_hs
    qualify r <= 1 + sg_mod(hash($seed, 'deal_contacts', d), 2)
)
union all
select 'emails', id, 'contacts', p + 1, 198 from g_email
union all
select 'meetings', id, 'contacts', p + 1, 200 from g_meeting
)
order by all
"""

# counters continue after the highest generated id, so API-created records never clash
COUNTERS = """
insert into sb_counters
select * from (values
    ('hs_contacts', (select coalesce(max(id), 0) from hs_contacts)),
    ('hs_companies', (select coalesce(max(id), 0) from hs_companies)),
    ('hs_deals', (select coalesce(max(id), 0) from hs_deals)),
    ('hs_emails', (select coalesce(max(id), 0) from hs_emails)),
    ('hs_meetings', (select coalesce(max(id), 0) from hs_meetings)),
    ('Account', (select coalesce(max(substr(Id, 4, 12)::bigint), 0) from sf_account)),
    ('Contact', (select coalesce(max(substr(Id, 4, 12)::bigint), 0) from sf_contact)),
    ('Lead', (select coalesce(max(substr(Id, 4, 12)::bigint), 0) from sf_lead)),
    ('Opportunity', (select coalesce(max(substr(Id, 4, 12)::bigint), 0) from sf_opportunity)),
    ('OpportunityContactRole',
     (select coalesce(max(substr(Id, 4, 12)::bigint), 0) from sf_opportunitycontactrole)),
    ('Task', (select coalesce(max(substr(Id, 4, 12)::bigint), 0) from sf_task)),
    ('Event', (select coalesce(max(substr(Id, 4, 12)::bigint), 0) from sf_event))
) t(name, value)
on conflict (name) do update set value = greatest(sb_counters.value, excluded.value)
"""

# in order: each statement may read the helper tables and views made before it
STEPS = [
    ("g_company", COMPANIES),
    ("g_person", PEOPLE),
    ("hs_companies", HS_COMPANIES),
    ("sf_account", SF_ACCOUNTS),
    ("hs_contacts", HS_CONTACTS),
    ("sf_contact", SF_CONTACTS),
    ("sf_lead", SF_LEADS),
    ("g_deal", DEALS_VIEW),
    ("hs_deals", HS_DEALS),
    ("g_opp", OPPORTUNITIES_VIEW),
    ("sf_opportunity", SF_OPPORTUNITIES),
    ("sf_opportunitycontactrole", SF_CONTACT_ROLES),
    ("g_email", EMAILS_VIEW),
    ("hs_emails", HS_EMAILS),
    ("g_meeting", MEETINGS_VIEW),
    ("hs_meetings", HS_MEETINGS),
    ("sf_task", SF_TASKS),
    ("sf_event", SF_EVENTS),
    ("hs_associations", ASSOCIATIONS),
    ("sb_counters", COUNTERS),
]

HELPER_TABLES = ("g_company", "g_person", "g_deal", "g_opp", "g_email", "g_meeting")
