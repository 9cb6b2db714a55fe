-- Per version and bucket of a run's results, the new fingerprint (row count, sum of row
-- hashes) where it differs from the stored one; a bucket the result no longer fills gets
-- row_count 0 (tasks/rules/matches.py).
-- inputs: result_rows, result_versions; template: {fingerprints} the stored fingerprints
create or replace temp table changed_buckets as
with
current as (
    select slot, rules.bucket_of(row_hash) as bucket, count(*) as row_count,
        sum(row_hash)::hugeint as hash_sum
    from result_rows
    group by all
),
stored as (
    select v.slot, f.bucket, f.row_count, f.hash_sum
    from {fingerprints} as f
    join result_versions as v using (rule, version, is_pending)
),
changed as (
    select coalesce(c.slot, s.slot) as slot, coalesce(c.bucket, s.bucket) as bucket,
        coalesce(c.row_count, 0) as row_count, coalesce(c.hash_sum, 0) as hash_sum
    from current as c
    full join stored as s on s.slot = c.slot and s.bucket = c.bucket
    where c.row_count is distinct from s.row_count or c.hash_sum is distinct from s.hash_sum
)
select c.slot, v.rule, v.version, v.is_pending, c.bucket, c.row_count, c.hash_sum
from changed as c
join result_versions as v using (slot)
