-- The next changes to post: for each person only their oldest pending change (so a later
-- decision is never overtaken by an earlier one), people already being posted left out,
-- one kind at a time with unenrolls first (stopping mail matters most), oldest first. An
-- enroll waits while an older unenroll of the person is sent but not yet seen to take
-- effect (HubSpot's workflow acts later, or never): one open sequence per person.
with
pending as (
    select *, coalesce(contact_id, lower(email)) as person,
           case kind when 'unenroll' then 0 when 'pause' then 1 when 'resume' then 2 else 3 end
               as kind_rank
    from ops.outbox
    where crm = $crm and status = 'pending' and ($run_id is null or run_id = $run_id)
      -- an ad-hoc run narrowed to some sequences (ids or names) posts only theirs
      and ($sequences is null or sequence_id in (
          select unnest($sequences::varchar[])
          union all
          select sequence_id from ops.sequences
          where crm = $crm and list_contains($sequences::varchar[], name)))
),
first_per_person as (
    select * from pending
    qualify row_number() over (partition by person order by created_at, kind_rank, change_id) = 1
),
unverified_unenrolls as (
    select coalesce(contact_id, lower(email)) as person, min(created_at) as since
    from ops.outbox
    where crm = $crm and kind = 'unenroll' and status = 'sent'
    group by all
),
eligible as (
    select f.* from first_per_person as f
    left join unverified_unenrolls as u on u.person = f.person
    where f.person not in (select unnest($busy::varchar[]))
      and not (f.kind = 'enroll' and coalesce(u.since <= f.created_at, false))
),
next_kind as (
    select kind from eligible order by kind_rank, created_at limit 1
),
final as (
    select change_id, kind, sequence_id, email, contact_id, sender, reason,
           cast(start_step as bigint) as start_step, attempts, person
    from eligible
    where kind = (select kind from next_kind)
    order by created_at, change_id
    limit $limit
)
select * from final
