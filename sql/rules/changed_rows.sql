-- The result rows of the buckets that changed, by version.
-- inputs: result_rows, changed_buckets
select b.rule, b.version, b.is_pending, b.bucket, r.email, r.company_domain, r.reason
from result_rows as r
join changed_buckets as b on b.slot = r.slot and b.bucket = rules.bucket_of(r.row_hash)
