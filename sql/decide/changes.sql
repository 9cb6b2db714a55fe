-- The outbox rows this decision makes: one unenroll per enrollment (carrying its first
-- rule) and one enroll per request that passed. change_id is a hash of run, kind, CRM,
-- sequence and person, so re-running the same decision never makes a second row.
-- inputs: d_unenroll, d_enroll; params: $run_id
with
unenrolls as (
    select
        'unenroll' as kind, crm, sequence_id, email, contact_id, null as sender, rule,
        rule_version, reason, actor, enrollment_id, state as from_state, step,
        cast(null as integer) as start_step
    from d_unenroll
    where is_primary
),
enrolls as (
    select
        'enroll' as kind, crm, sequence_id, email, contact_id, sender,
        request_rule as rule, null as rule_version, note as reason, actor,
        null as enrollment_id, null as from_state, coalesce(start_step - 1, 0) as step,
        start_step
    from d_enroll
    where outcome = 'enroll'
),
final as (
    select
        md5(concat_ws('|', $run_id, kind, crm, sequence_id, email)) as change_id,
        *
    from (select * from unenrolls union all by name select * from enrolls)
)
select * from final
