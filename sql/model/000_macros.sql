-- The model's shared definitions, created (or replaced) at the start of every model
-- build, so they follow the code without a migration. They live in the database, so
-- rules and the duckdb cli can call them too: crm.normalize_domain('https://www.Acme.com/').

-- every character Unicode calls white space (and the zero-width space and BOM a paste
-- from a spreadsheet or web page brings): tab, newline, no-break space, ideographic, ...
create or replace macro crm.space_chars() as
    ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(133) || chr(160)
    || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196)
    || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202)
    || chr(8203) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)
    || chr(65279);

-- a value without that white space around it; trim() with a set of characters costs ~4x
-- the plain one, so it only runs on values that start or end with one
create or replace macro crm.trim_space(value) as
    case when contains(crm.space_chars(), left(value, 1))
            or contains(crm.space_chars(), right(value, 1))
        then trim(value, crm.space_chars()) else value end;

-- a domain as the model keys companies by: lower case, no scheme, no user, no `www.`,
-- no port, path, query or trailing dot/slash; null when nothing domain-like is left
-- (at least two labels). Works on websites, bare domains and email addresses.
-- (a chain of capture-free patterns: RE2 runs them on its fast DFA, ~2x a capture group)
create or replace macro crm.domain_part(value) as rtrim(regexp_replace(regexp_extract(
    regexp_replace(regexp_replace(lower(crm.trim_space(value)), '^[a-z][a-z0-9+.-]*://', ''),
                   '^[^@/?#]*@', ''),
    '^[^/?#:,;\s]*'), '^www\.', ''), '.');

create or replace macro crm.normalize_domain(value) as
    case
        -- already clean (most CRM domain fields): no rewriting needed
        when regexp_full_match(value, '[a-z0-9-]+(\.[a-z0-9-]+)+')
            and not starts_with(value, 'www.') then value
        when regexp_full_match(crm.domain_part(value), '[^.]+(\.[^.]+)+')
            then crm.domain_part(value)
    end;

-- an email address as the model keys people by: without white space around it, lower
-- case; null unless it has an @ (the sync quarantines malformed addresses, so this stays
-- a cheap check). Rule output goes through it too (tasks/rules/engine.py normalized_sql). Filter
-- joins with crm.has_email(raw) rather than on the normalized value: DuckDB pushes such
-- filters into the scan and would normalize every row of the table.
create or replace macro crm.normalize_email(value) as
    case when contains(value, '@') then lower(crm.trim_space(value)) end;

create or replace macro crm.has_email(value) as coalesce(contains(value, '@'), false);

-- the first address in a header-like value: 'a@x.com; b@y.com' or 'Ann <a@x.com>'
-- (a plain address, the usual case, skips the pattern)
create or replace macro crm.first_email(value) as
    case
        when not (contains(value, '<') or contains(value, ';') or contains(value, ',')
                  or contains(trim(value), ' '))
            then crm.normalize_email(value)
        else crm.normalize_email(regexp_extract(value, '[^@\s<>;,"'']+@[^@\s<>;,"'']+', 0))
    end;

-- the domain of an address crm.normalize_email already checked
create or replace macro crm.email_domain(email) as split_part(email, '@', 2);

-- mailbox providers: their domain says nothing about the person's company
create or replace macro crm.free_mail_domains() as [
    'gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'hotmail.co.uk', 'hotmail.fr',
    'live.com', 'msn.com', 'yahoo.com', 'yahoo.co.uk', 'yahoo.fr', 'yahoo.de', 'ymail.com',
    'rocketmail.com', 'aol.com', 'icloud.com', 'me.com', 'mac.com', 'proton.me',
    'protonmail.com', 'pm.me', 'gmx.com', 'gmx.de', 'gmx.net', 'web.de', 'mail.com',
    'yandex.com', 'yandex.ru', 'mail.ru', 'zoho.com', 'fastmail.com', 'hey.com',
    'tutanota.com', 'qq.com', '163.com', '126.com', 'naver.com', 'comcast.net', 'att.net',
    'verizon.net', 'orange.fr', 'free.fr', 't-online.de', 'libero.it'
];

create or replace macro crm.is_free_mail_domain(domain) as
    list_contains(crm.free_mail_domains(), domain);

-- a HubSpot datetime string as naive UTC: ISO 8601 ('...Z', the API's form, first; or
-- with an offset), a date, or epoch milliseconds (older APIs); null when unparsable
create or replace macro crm.parse_time(value) as case
    when ends_with(value, 'Z') then try_cast(value as timestamp)
    when regexp_matches(trim(value), '[+-]\d\d:?\d\d$')
        then try_cast(trim(value) as timestamptz) at time zone 'UTC'
    when regexp_full_match(trim(value), '\d{11,}')
        then make_timestamp(trim(value)::bigint * 1000)
    else try_cast(trim(value) as timestamp)
end;

-- an order of preference among several records of one person or company, as one
-- number so arg_min stays cheap at millions of rows (a struct key costs ~1.5x): the
-- source's rank first, then the most recently updated, then a stable hash of the id
create or replace macro crm.preference(source_rank, updated_at, record_id) as
    (source_rank::hugeint << 100)
    + ((34359738368 - coalesce(epoch(updated_at), 0)::bigint)::hugeint << 64)
    + coalesce(hash(record_id), 0)::hugeint;

-- HubSpot's string booleans
create or replace macro crm.is_true(value) as coalesce(lower(trim(value)) = 'true', false);

-- how far along the funnel a HubSpot lifecycle stage is, to fold several records into
-- the most advanced one; custom stages (numeric ids) rank lowest
create or replace macro crm.lifecycle_rank(stage) as case stage
    when 'subscriber' then 1 when 'lead' then 2 when 'marketingqualifiedlead' then 3
    when 'salesqualifiedlead' then 4 when 'opportunity' then 5 when 'customer' then 6
    when 'evangelist' then 7 when 'other' then 0 else -1
end;
