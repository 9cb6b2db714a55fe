-- Everything seqguard knows happened to one person (`seqguard history EMAIL`), oldest
-- first: each rule version that matched them (from the run it first did until the run
-- it no longer did; a company rule through their company, its aliases or duplicates),
-- each decision (unenroll, block, skip, enroll), each change asked of an enrollment and
-- by whom, what the sequencer said to each post, and what the reads of the sequencer
-- saw. Times are the cycle's (`now`) for matches and decisions, the wall clock for posts.
-- params: $email
with
person as (
    select coalesce(d.company_domain, p.company_domain) as company
    from crm.people as p
    left join crm.company_domains as d on d.domain = p.company_domain
    where p.email = $email
),
run_times as (
    -- when each run sequence number ran (runs pruned since: unknown)
    select s.seq, min(e.now) as happened_at
    from rules.run_sets as s
    join rules.evaluations as e using (run_id)
    group by all
),
rows_of_person as (
    select rule, version, is_pending, reason, from_seq, to_seq, 'contact' as level
    from rules.match_rows
    where email = $email
    union all
    select m.rule, m.version, m.is_pending, m.reason, m.from_seq, m.to_seq, 'company'
    from rules.match_rows as m
    left join crm.company_domains as d on d.domain = m.company_domain
    where m.company_domain is not null
        and coalesce(d.company_domain, m.company_domain) in (select company from person)
),
matches as (
    select f.happened_at, 'match' as kind, null as sequence_id, r.rule, r.version as rule_version,
           case when r.is_pending then 'pending version' else r.level || ' rule' end as scope,
           r.reason as detail, null as run_id, null as actor
    from rows_of_person as r
    left join run_times as f on f.seq = r.from_seq
    union all
    select t.happened_at, 'match ended', null, r.rule, r.version,
           case when r.is_pending then 'pending version' else r.level || ' rule' end,
           'the rule no longer names them', null, null
    from rows_of_person as r
    join run_times as t on t.seq = r.to_seq
),
decisions as (
    select decided_at as happened_at, kind, sequence_id, rule, rule_version, scope,
           reason as detail, run_id, null as actor
    from ops.decisions
    where email = $email
),
events as (
    -- asked by seqguard or a person (written with the decision, before it is posted),
    -- or seen by a read of the sequencer
    select happened_at,
           case when actor = 'sequencer' then 'seen ' else 'asked ' end
               || coalesce(from_state || ' -> ', '') || to_state,
           sequence_id, rule, rule_version, null,
           concat_ws('; ', reason, 'step ' || step), run_id, actor
    from ops.enrollment_events
    where email = $email
),
posts as (
    select coalesce(confirmed_at, sent_at, attempted_at, created_at),
           kind || ' ' || status, sequence_id, rule, rule_version, null,
           coalesce(error, 'change ' || change_id), run_id, actor
    from ops.outbox
    where lower(email) = $email
),
final as (
    select h.*, q.name as sequence
    from (
        select * from matches
        union all select * from decisions
        union all select * from events
        union all select * from posts
    ) as h
    left join (select distinct on (sequence_id) sequence_id, name from ops.sequences) as q
        using (sequence_id)
    -- at one time: what matched, then what was decided, asked and posted
    order by h.happened_at nulls first,
        case when h.kind like 'match%' then 0
             when h.kind like 'asked %' or h.kind like 'seen %' then 2
             when h.kind like '% %' then 3 else 1 end,
        h.kind
)
select happened_at, kind, sequence, sequence_id, rule, rule_version, scope, detail, run_id, actor
from final
