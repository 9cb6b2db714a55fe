-- The changed buckets' new fingerprints in place of the stored ones (none for a bucket
-- the result no longer fills).
-- inputs: changed_buckets; template: {fingerprints}
delete from {fingerprints} where (rule, version, is_pending, bucket) in
    (select (rule, version, is_pending, bucket) from changed_buckets);
insert into {fingerprints} by name
select rule, version, is_pending, bucket, row_count, hash_sum
from changed_buckets
where row_count > 0;
