-- Unenrolls seqguard wrote but has not yet seen take effect (HubSpot's workflow may be
-- off or failing): listed in every run report, with the contact owner, until they do.
with
unverified as (
    select change_id, crm, email, contact_id, sequence_id, rule, sent_at, run_id
    from ops.outbox
    where kind = 'unenroll' and status = 'sent'
),
owners as (
    select email, any_value(owner_email) as owner_email from crm.people group by email
),
final as (
    select u.*, o.owner_email
    from unverified u left join owners o on o.email = lower(u.email)
    order by u.sent_at, u.change_id
)
select * from final
