-- What happens to each requested enrollment: excluded (a rule in d_exclusions stops it),
-- refused (a constraint: unknown person, no record in the sequencer's CRM, already in
-- an open sequence, already in this sequence once without allow_reenrollment, another
-- request for the person won this run, the company cap reached), or enroll.
-- Enrollments seqguard has asked for but not yet seen count as open. Ties are broken
-- deterministically: earliest rank_at (release time), then play, then email.
-- inputs: d_requests, d_exclusions
with
requests as (
    select
        r.*,
        p.email is not null as is_known,
        p.company_domain,
        -- a sequencer of its own: its person id when looked up before, else the poster
        -- looks it up (and fails the change if it has no such person)
        case r.crm
            when 'hubspot' then p.hubspot_id
            when 'salesforce' then coalesce(p.salesforce_contact_id, p.salesforce_lead_id)
            else s.contact_id
        end as contact_id,
        r.crm not in ('hubspot', 'salesforce') as has_own_people,
        case when r.sender = 'owner' then p.owner_email else r.sender end as sender_email
    from d_requests as r
    left join crm.people as p on p.email = r.email
    left join raw_sequencer.people as s on s.crm = r.crm and s.email = r.email
),
asked as (
    -- enrollments posted or about to be, not yet read back from the sequencer
    select crm, sequence_id, email
    from ops.outbox
    where kind = 'enroll' and status in ('pending', 'held', 'sent')
),
open_now as (
    select crm, sequence_id, email from ops.enrollments where state in ('active', 'paused')
    union
    select * from asked
),
open_by_person as (
    select crm, email, string_agg(distinct sequence_id, ', ' order by sequence_id) as sequences
    from open_now
    group by all
),
ever_enrolled as (
    select distinct crm, sequence_id, email from ops.enrollments
    union
    select crm, sequence_id, email
    from ops.outbox
    where kind = 'enroll' and status not in ('rejected', 'failed')
),
open_by_company as (
    select o.crm, o.sequence_id, p.company_domain, count(*) as open_count
    from open_now as o
    join crm.people as p on p.email = o.email
    where p.company_domain is not null
    group by all
),
checked as (
    select
        r.*,
        case
            when r.request_id in (select request_id from d_exclusions) then null
            when not r.is_known then 'unknown person: ' || r.email || ' is not in crm.people'
            when r.contact_id is null and not r.has_own_people
                then 'no ' || r.crm || ' record for ' || r.email
            when o.email is not null then 'already in an open sequence: ' || o.sequences
            when e.email is not null and not r.allow_reenrollment
                then 'already enrolled in this sequence once; re-enrollment is not allowed'
        end as refusal,
        r.request_id in (select request_id from d_exclusions) as is_excluded
    from requests as r
    left join open_by_person as o on o.crm = r.crm and o.email = r.email
    left join ever_enrolled as e
        on e.crm = r.crm and e.sequence_id = r.sequence_id and e.email = r.email
),
one_per_person as (
    -- at most one open sequence per person: the earliest request wins
    select
        *,
        row_number() over (
            partition by crm, email order by rank_at, play nulls first, sequence_id, request_id
        ) as person_rank,
        first_value(sequence_id) over (
            partition by crm, email order by rank_at, play nulls first, sequence_id, request_id
        ) as chosen_sequence
    from checked
    where not is_excluded and refusal is null
),
capped as (
    -- max_enrollments_per_company: open enrollments in the sequence at the company, plus
    -- the ones made now, in release order
    select
        w.*,
        coalesce(c.open_count, 0) + row_number() over (
            partition by w.crm, w.sequence_id, w.company_domain
            order by w.rank_at, w.email, w.request_id
        ) as company_count
    from one_per_person as w
    left join open_by_company as c
        on c.crm = w.crm and c.sequence_id = w.sequence_id
        and c.company_domain = w.company_domain
    where w.person_rank = 1
),
outcomes as (
    select request_id, 'excluded' as outcome, null as reason from checked where is_excluded
    union all
    select request_id, 'refused', refusal from checked where refusal is not null
    union all
    select request_id, 'refused', 'another enrollment of this person won this run: '
        || chosen_sequence
    from one_per_person where person_rank > 1
    union all
    select
        request_id,
        case
            when max_per_company is null or company_domain is null
                or company_count <= max_per_company then 'enroll'
            else 'refused'
        end,
        case
            when max_per_company is null or company_domain is null
                or company_count <= max_per_company then null
            else 'company ' || company_domain || ' already has ' || (company_count - 1)
                || ' enrollments in this sequence (max_enrollments_per_company '
                || max_per_company || ')'
        end
    from capped
),
final as (
    select
        r.request_id, r.source, r.play, r.email, r.sequence_id, r.crm, r.contact_id,
        r.sender_email as sender, r.start_step, r.release_at, r.actor, r.company_domain,
        r.request_rule, r.note, o.outcome, o.reason
    from requests as r
    join outcomes as o using (request_id)
)
select * from final
