-- One pass over the stored open rows of the changed buckets and those buckets' new rows:
-- what the results gained (stored_at null) and what they lost (rule null).
-- inputs: changed_rows, changed_buckets; template: {rows} the stored match rows
create or replace temp table match_diff as
with
open_rows as (
    select m.rowid as stored_at, m.rule, m.version, m.is_pending, m.bucket, m.email,
        m.company_domain, m.reason
    from {rows} as m
    semi join changed_buckets as b using (rule, version, is_pending, bucket)
    -- a filter on the bucket number alone as well: it halved the time of this scan
    where m.to_seq is null and m.bucket in (select bucket from changed_buckets)
),
new as (
    select distinct * from changed_rows
),
final as (
    select o.stored_at, n.*
    from new as n
    full join open_rows as o
        on n.rule = o.rule and n.version = o.version and n.is_pending = o.is_pending
        and n.bucket = o.bucket
        and n.email is not distinct from o.email
        and n.company_domain is not distinct from o.company_domain
        and n.reason is not distinct from o.reason
    where o.stored_at is null or n.rule is null
)
select * from final
